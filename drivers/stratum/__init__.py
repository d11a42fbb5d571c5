"""Stratum v1: job/header work (``work``), asyncio client (``client``), pool server, upstream proxy, LBRY variant.

See docs/stratum.md for the public API and the hooks other areas build on.
"""
