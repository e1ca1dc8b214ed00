"""The shop API, of which kefu is the client: signing (``signing``), the wire format (``wire``),
the client (``client``) and a sample shop speaking it (``demo``, ``kefu demo-shop``)."""
