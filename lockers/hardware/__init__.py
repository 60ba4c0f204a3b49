"""Lock and relay boards over serial lines, and an emulator that speaks their protocols."""
