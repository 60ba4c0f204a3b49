"""The soak harness: thousands of rentals through the real services, the real board drivers on
the pty emulator and a real database, with crashes and faults injected at configured rates, and
the invariants checked against the harness's own ledger after every cycle (``lockers soak``).
"""
