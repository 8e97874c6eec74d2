"""Console receiver: prints the rendered markdown; used by the demo and local runs."""

from __future__ import annotations

import sys
from typing import TextIO

from lib.core.notification import Message, Notification
from lib.core.overrides import Overrides
from lib.notify.render import RenderOptions, message_id, render_title
from lib.notify.templated import markdown

__all__ = ["ConsoleReceiver"]


class ConsoleReceiver:
    """Writes each message to a text stream (stdout by default) under a header line."""

    def __init__(
        self,
        name: str = "console",
        stream: TextIO | None = None,
        options: RenderOptions | None = None,
    ) -> None:
        self.name = name
        self._stream = stream
        self._options = options or RenderOptions()

    def customized(self, overrides: Overrides) -> ConsoleReceiver:
        """A copy for one route: its template and output switch (no one to mention)."""
        return ConsoleReceiver(self.name, self._stream, self._options.overridden(overrides))

    def render(self, notification: Notification) -> list[Message]:
        """One message with the whole markdown: a terminal has no size limit."""
        text = markdown(notification, self._options)
        return [
            Message(
                receiver=self.name,
                id=message_id(self.name, notification.alerts),
                title=render_title(notification, self._options),
                text=text,
                payload={"markdown": text},
            )
        ]

    def send(self, message: Message) -> None:
        """Print the message; a console never refuses one."""
        # Resolved at send time so pytest's capsys and redirected stdout are honoured.
        stream = self._stream or sys.stdout
        stream.write(f"===== [{self.name}] {message.title} ({message.id}) =====\n")
        stream.write(message.text.rstrip("\n") + "\n\n")
        stream.flush()
