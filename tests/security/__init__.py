"""Attack tests: each drives the real running pieces (HTTP against the app, UDP against the
listener and RADIUS) with what an attacker would send, and fails if the hole it names reopens."""
