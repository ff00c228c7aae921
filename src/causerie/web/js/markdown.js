// Model output is untrusted. It goes: Markdown -> HTML in which raw HTML is escaped, images
// become links, math becomes placeholders -> DOMPurify with a short allow-list -> DOM, where
// code is highlighted and math typeset by libraries that only emit spans. The page's CSP
// (script-src 'self', img-src 'self' data:) is the wall behind this one.

import { Marked } from '../vendor/marked/marked.esm.js';
import createDOMPurify from '../vendor/dompurify/purify.es.mjs';
import hljs from '../vendor/highlight/highlight.min.js';
import { h, icon } from './dom.js';
import { t } from './i18n.js';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESCAPES[c]);

// Models write math as $$..$$, \[..\], $..$ or \(..\); marked knows none of them.
const MATH_BLOCK = /^(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\])[ \t]*(?:\n|$)/;
const MATH_INLINE = [
  /^\$\$([^$]+?)\$\$/,
  // $x$ but not "costs $5 and $10": no space inside the dollars, no digit right after.
  /^\$(?![\s$])((?:\\\$|[^$\n])+?)(?<![\s\\])\$(?!\d)/,
  /^\\\(([\s\S]+?)\\\)/,
];

const mathExtensions = [
  {
    name: 'mathBlock',
    level: 'block',
    start: (src) => src.match(/\$\$|\\\[/)?.index,
    tokenizer(src) {
      const m = MATH_BLOCK.exec(src);
      if (m) return { type: 'mathBlock', raw: m[0], text: (m[1] ?? m[2]).trim() };
      return undefined;
    },
    renderer: (token) => `<div class="math" data-display="block">${escapeHtml(token.text)}</div>\n`,
  },
  {
    name: 'mathInline',
    level: 'inline',
    start: (src) => src.match(/\$|\\\(/)?.index,
    tokenizer(src) {
      for (const re of MATH_INLINE) {
        const m = re.exec(src);
        if (m) return { type: 'mathInline', raw: m[0], text: m[1] };
      }
      return undefined;
    },
    renderer: (token) => `<span class="math">${escapeHtml(token.text)}</span>`,
  },
];

const marked = new Marked({
  gfm: true,
  breaks: false,
  extensions: mathExtensions,
  renderer: {
    // Raw HTML from a model is shown as the text it is, the way a chat app should.
    html: ({ text, block }) => (block ? `<p class="raw">${escapeHtml(text)}</p>` : escapeHtml(text)),
    // Never fetch an image the model names: show a link to it instead.
    image: ({ href, text }) =>
      `<a href="${escapeHtml(href)}" class="md-image">${escapeHtml(t('image', { alt: text || href }))}</a>`,
    code: ({ text, lang }) => {
      const name = (lang || '').trim().split(/\s+/)[0];
      return `<pre><code data-lang="${escapeHtml(name)}">${escapeHtml(text)}</code></pre>\n`;
    },
  },
});

const SAFE_LINK = /^(?:https?:|mailto:)/i;
const purify = createDOMPurify(window);
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A') {
    const href = node.getAttribute('href') || '';
    if (SAFE_LINK.test(href)) {
      // Out of the page, never in it; the target learns nothing about us.
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    } else {
      node.removeAttribute('href');
    }
  } else if (node.nodeName === 'INPUT') {
    node.setAttribute('type', 'checkbox'); // GFM task lists are the only inputs marked emits
    node.setAttribute('disabled', '');
  }
});
const PURIFY_CONFIG = {
  ALLOWED_TAGS: [
    'a', 'blockquote', 'br', 'code', 'del', 'div', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
    'hr', 'input', 'li', 'ol', 'p', 'pre', 'span', 'strong', 'table', 'tbody', 'td', 'th',
    'thead', 'tr', 'ul', 'sub', 'sup',
  ],
  ALLOWED_ATTR: ['href', 'title', 'class', 'align', 'start', 'type', 'checked', 'disabled',
    'data-lang', 'data-display'],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

/** Untrusted Markdown as a sanitized DocumentFragment. */
export function renderMarkdown(text) {
  const fragment = purify.sanitize(marked.parse(text), PURIFY_CONFIG);
  decorateCode(fragment, false);
  typesetMath(fragment);
  return fragment;
}

const streamedBlocks = new WeakMap(); // container -> [{raw, nodes}] of what is on screen

/**
 * Render a growing reply into container, redoing only the blocks that changed since the
 * last call: finished paragraphs, code and math are parsed, sanitized and typeset once.
 */
export function renderStreaming(container, text) {
  const tokens = marked.lexer(text);
  const blocks = tokens.filter((token) => token.type !== 'space');
  let shown = streamedBlocks.get(container);
  if (!shown) {
    shown = [];
    streamedBlocks.set(container, shown);
    container.replaceChildren();
  }
  // The last block may still be growing: it is always redrawn.
  let keep = 0;
  while (keep < shown.length && keep < blocks.length - 1 && shown[keep].raw === blocks[keep].raw) {
    keep += 1;
  }
  for (const stale of shown.splice(keep)) stale.nodes.forEach((node) => node.remove());
  for (const block of blocks.slice(keep)) {
    const one = [block];
    one.links = tokens.links; // reference-style links defined elsewhere in the reply
    const fragment = purify.sanitize(marked.parser(one), PURIFY_CONFIG);
    decorateCode(fragment, true);
    typesetMath(fragment);
    const nodes = [...fragment.childNodes];
    container.append(fragment);
    shown.push({ raw: block.raw, nodes });
  }
}

// -- code blocks ---------------------------------------------------------------------------

const highlighted = new Map(); // (lang, text) -> hljs HTML; a streaming block re-renders often
const HIGHLIGHT_CACHE = 500;
const AUTO_DETECT_MAX = 4000;

function highlight(text, lang, streaming) {
  const key = `${lang}\u0000${text}`;
  if (highlighted.has(key)) return highlighted.get(key);
  let html = null;
  if (lang && hljs.getLanguage(lang)) {
    html = hljs.highlight(text, { language: lang, ignoreIllegals: true }).value;
  } else if (!lang && !streaming && text.length <= AUTO_DETECT_MAX) {
    html = hljs.highlightAuto(text).value;
  }
  if (html === null) return null;
  if (highlighted.size >= HIGHLIGHT_CACHE) highlighted.delete(highlighted.keys().next().value);
  highlighted.set(key, html);
  return html;
}

function decorateCode(root, streaming) {
  for (const code of root.querySelectorAll('pre > code')) {
    const pre = code.parentElement;
    const lang = code.dataset.lang || '';
    // hljs escapes the text it is given and only adds <span class>: safe as HTML.
    const html = highlight(code.textContent, lang, streaming);
    if (html !== null) code.innerHTML = html;
    code.classList.add('hljs');
    const copy = h('button', {
      type: 'button', class: 'code-copy', dataset: { action: 'copy-code' },
      'aria-label': t('copyCode'), title: t('copyCode'),
    }, icon('copy'), h('span', { text: t('copy') }));
    const head = h('div', { class: 'code-head' }, h('span', { class: 'code-lang', text: lang }), copy);
    const block = h('div', { class: 'code-block' });
    pre.replaceWith(block);
    block.append(head, pre);
  }
}

// -- math ----------------------------------------------------------------------------------

let katex = null;
let katexLoading = null;

/** Fetch and compile KaTeX ahead of need (it is large): call when the page is idle. */
export function preloadMath() {
  katexLoading ??= import('../vendor/katex/katex.mjs').then((mod) => {
    katex = mod.default;
    document.querySelectorAll('.math:not(.typeset)').forEach(typeset);
  });
}

function typesetMath(root) {
  const nodes = root.querySelectorAll('.math');
  if (!nodes.length) return;
  if (katex) {
    nodes.forEach(typeset);
    return;
  }
  // KaTeX is large: fetched the first time math shows up (or when idle), then typesets
  // what is on screen.
  preloadMath();
}

function typeset(node) {
  if (node.classList.contains('typeset')) return;
  const tex = node.textContent;
  try {
    // trust: false keeps \href, \url and \includegraphics out; KaTeX builds DOM nodes itself.
    katex.render(tex, node, {
      displayMode: node.dataset.display === 'block',
      throwOnError: false,
      trust: false,
      strict: 'ignore',
      maxSize: 20,
      maxExpand: 500,
    });
    node.classList.add('typeset');
    node.title = tex;
  } catch {
    node.textContent = tex;
  }
}
