"""Knowledge benchmark: ingestion throughput, query latency at 100,000 chunks, grounded TTFT."""
