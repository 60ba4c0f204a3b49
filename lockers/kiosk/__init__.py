"""Application services: the kiosk's use cases, without Qt or pyserial."""
