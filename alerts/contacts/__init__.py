"""Repeat-contact tracking: sessions (a contact is a first message after a silence), a per-customer
contact log in Redis, identity linking across channels, and the rules that decide when repeat
contacts become a ticket."""
