"""wsclient's benchmark harness: ``python -m bench`` (``--help`` for the options).

It measures the client side only. A WebSocket server in a separate process
(:mod:`bench.server`) writes pre-built frames as fast as the socket takes
them, so the client is the bottleneck; the harness prints both processes' CPU
time to show it. Four phases, each interleaved over several rounds:

- throughput (:mod:`bench.throughput`): messages/s for raw aiohttp, a lean
  aiohttp receive loop, wsclient, websockets and picows;
- reconnect gap (:mod:`bench.gap`): server close to the first message on the
  new connection, wsclient against a hand-written aiohttp reconnect;
- scale (:mod:`bench.scale`): N idle connections, RSS per connection and the
  time to open them, each run in a fresh process;
- latency (:mod:`bench.latency`): p50/p99 receive latency at a fixed rate.

Only ratios measured side by side in one run mean anything: absolute figures
depend on the machine.
"""
