"""The pure core: what failed (findings, catalogue), what to tell (alerts, reminders), to whom (routing, silences), how fast (budget). No I/O; imports only lib.support."""
