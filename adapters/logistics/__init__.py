"""Parcel tracking: 快递100's real-time query (``kuaidi100``) and couriers told from waybills
(``carriers``). ``logistics.provider: shop`` is served by the shop API client instead."""
