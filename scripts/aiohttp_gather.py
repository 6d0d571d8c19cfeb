#!/usr/bin/env python3
"""The classic way: N requests with aiohttp and asyncio.gather, timed.

Usage: aiohttp_gather.py URL N
Prints one line: `wall_seconds=<s> ok=<n> errors=<n>`. Used by
scripts/bench.sh as the yardstick for the 500-task case.
"""
import asyncio
import sys
import time

import aiohttp


async def main(url: str, n: int) -> None:
    # limit=0: no connection cap, as the 500-task case has none either.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> bool:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return response.status < 400
            except aiohttp.ClientError:
                return False

        start = time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - start
    ok = sum(results)
    print(f"wall_seconds={wall:.4f} ok={ok} errors={n - ok}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
