"""Faust stream processing: routing contributions and keeping every case's statutory clocks.

Agents are thin: decode, bind log context, call a pure function, send what it returns.
``streams.app.create_app(settings)`` is the composition root; ``streams.worker`` holds the one
module-level app Faust's command line needs.
"""
