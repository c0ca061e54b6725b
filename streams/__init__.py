"""Faust stream processing: routing contributions and keeping every case's statutory clocks.

Faust wiring only: ``app`` (``create_app(settings)`` builds the app), ``agents`` (the one
``run_stage`` loop), ``timer``, ``io`` (outbox and dead letters), ``safety`` and ``worker`` (the
module-level app Faust's command line needs). The stages themselves are pure functions in
:mod:`streams.stages`.
"""
