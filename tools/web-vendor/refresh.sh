#!/usr/bin/env bash
# Re-vendor the web UI's libraries from the npm registry (versions pinned in package.json
# and package-lock.json). The copied files are committed: serving the UI never needs npm.
# To upgrade: edit the versions in package.json, run `make web-vendor`, test, commit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../../src/causerie/web/vendor"
cd "$here"
npm install --no-audit --no-fund --ignore-scripts --save-exact >/dev/null
nm="$here/node_modules"
rm -rf "$out"
mkdir -p "$out/marked" "$out/dompurify" "$out/highlight" "$out/katex/fonts" "$out/inter/files"

# Source-map comments point to files we do not ship; drop them so browsers do not ask.
strip_map() { sed -e '/^\/\/# sourceMappingURL=/d' "$1" >"$2"; }

strip_map "$nm/marked/lib/marked.esm.js" "$out/marked/marked.esm.js"
cp "$nm/marked/LICENSE" "$out/marked/LICENSE"

strip_map "$nm/dompurify/dist/purify.es.mjs" "$out/dompurify/purify.es.mjs"
cp "$nm/dompurify/LICENSE" "$out/dompurify/LICENSE"

strip_map "$nm/@highlightjs/cdn-assets/es/highlight.min.js" "$out/highlight/highlight.min.js"
# Token colours come from our own app.css (one palette per theme), not a vendored theme.
cp "$nm/@highlightjs/cdn-assets/LICENSE" "$out/highlight/LICENSE"

strip_map "$nm/katex/dist/katex.mjs" "$out/katex/katex.mjs"
cp "$nm/katex/dist/katex.min.css" "$out/katex/katex.min.css"
# Browsers that run this UI all read woff2, the first source in katex.min.css.
cp "$nm"/katex/dist/fonts/*.woff2 "$out/katex/fonts/"
cp "$nm/katex/LICENSE" "$out/katex/LICENSE"

# Inter (the UI font, SIL OFL): upright variable weights; the browser fetches only the
# unicode ranges a page uses.
inter="$nm/@fontsource-variable/inter"
cp "$inter/wght.css" "$out/inter/inter.css"
cp "$inter"/files/*-wght-normal.woff2 "$out/inter/files/"
cp "$inter/LICENSE" "$out/inter/LICENSE"

node -e '
const lock = require("./package-lock.json").packages;
const names = Object.keys(require("./package.json").dependencies);
for (const n of names) console.log(`${n} ${lock["node_modules/" + n].version} ${lock["node_modules/" + n].license}`);
' >"$out/VERSIONS.txt"
echo "vendored into $out:"
cat "$out/VERSIONS.txt"
