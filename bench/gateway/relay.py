"""The floor of a Python gateway: FastAPI + httpx relaying the upstream's bytes untouched."""

from __future__ import annotations

import argparse

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask


def create_app(upstream: str) -> FastAPI:
    """POST /v1/chat/completions forwarded to upstream, the answer streamed back as bytes."""
    client = httpx.AsyncClient(
        base_url=upstream,
        timeout=httpx.Timeout(60, connect=5),
        limits=httpx.Limits(
            max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=4
        ),
    )
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def relay(request: Request) -> StreamingResponse:
        request_up = client.build_request(
            "POST",
            "/v1/chat/completions",
            content=await request.body(),
            headers={"content-type": "application/json"},
        )
        response = await client.send(request_up, stream=True)
        return StreamingResponse(
            response.aiter_raw(),
            status_code=response.status_code,
            media_type=response.headers.get("content-type"),
            background=BackgroundTask(response.aclose),
        )

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9100")
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
