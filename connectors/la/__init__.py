"""The local authority's pull API (``/api/la``): its cases, advice documents and alerts.

Handlers are thin: they read through :class:`ehcp.readmodel.access.LaView`, the one definition
of what an LA may see, and shape the answer (:mod:`connectors.la.models`).
"""
