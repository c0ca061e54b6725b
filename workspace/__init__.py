"""The LA workspace: a server-rendered web app over the read model (``ehcp workspace serve``)."""
