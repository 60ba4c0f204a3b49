"""One widget per kiosk screen; each draws immutable view values and emits button presses."""
