"""A dismissible message strip at the top of the window: errors never need a modal dialog.

A message may be *about* something that can go away (the open image, the result, the
reference it is set against): ``dismiss_about`` takes it down when that is replaced, so a
note about an image that is no longer open never stays on screen. Errors are about nothing
in particular and stay until dismissed or replaced."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

STYLES = {
    "error": "background: #fde2e1; border: 1px solid #e0a0a0; color: #7a1010;",
    "warning": "background: #fff4d6; border: 1px solid #e5c56a; color: #6a4d00;",
    "info": "background: #e3f0ff; border: 1px solid #9cc3ef; color: #123e6b;",
}


class MessageBar(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button)
        self.messages: list[tuple[str, str]] = []  #: every (level, text) shown, oldest first
        self.level = ""
        self.about: str | None = None  #: what the message shown is about (None: nothing)
        self.hide()

    def show_message(self, text: str, level: str = "error", about: str | None = None) -> None:
        self.messages.append((level, text))
        self.level = level
        self.about = about
        self.label.setText(text)
        self.setStyleSheet(f"QFrame {{ {STYLES.get(level, STYLES['info'])} }} "
                           "QLabel { border: none; background: transparent; }")
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    def dismiss_about(self, *subjects: str) -> None:
        """Take the message down if it is about one of ``subjects``."""
        if self.about is not None and self.about in subjects:
            self.dismiss()

    def dismiss(self) -> None:
        self.level = ""
        self.about = None
        self.label.clear()
        self.hide()
