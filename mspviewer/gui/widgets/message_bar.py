"""A dismissible message strip at the top of the window: errors never need a modal dialog.

A message may be *about* something that can go away (the open image, the result, the
reference it is set against, the third pane's codec): ``dismiss_about`` takes it down when
that is replaced, so a note about an image that is no longer open never stays on screen.
Most errors are about nothing in particular and stay until dismissed or replaced; one about
the result (a reference refused for it) goes with it.

An unexpected error (a bug, a library's failure) comes as one line with *details*, its
traceback: Details… shows them in a window of their own, to read, copy and report."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel,
                               QPlainTextEdit, QToolButton, QVBoxLayout)

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
        # plain text: an exception's message or a file name ("a<b>.png") is not markup
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.details_button = QToolButton()
        self.details_button.setText("Details…")
        self.details_button.setToolTip("What happened, as Python reported it (to copy into "
                                       "a bug report)")
        self.details_button.clicked.connect(self.show_details)
        self.details_button.hide()
        self.details = ""  #: the message's details ("" for none)
        self.details_dialog: QDialog | None = None
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.details_button)
        layout.addWidget(self.close_button)
        self.messages: list[tuple[str, str]] = []  #: every (level, text) shown, oldest first
        self.level = ""
        self.about: str | None = None  #: what the message shown is about (None: nothing)
        self.hide()

    def show_message(self, text: str, level: str = "error", about: str | None = None,
                     details: str = "") -> None:
        self.messages.append((level, text))
        self.level = level
        self.about = about
        self.label.setText(text)
        self.details = details
        self.details_button.setVisible(bool(details))
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
        self.details = ""
        self.label.clear()
        self.hide()

    def show_details(self) -> QDialog | None:
        """The shown message's details in a window beside the main one (not modal: the
        window goes on working); None when the message has none."""
        if not self.details:
            return None
        if self.details_dialog is None:
            self.details_dialog = _DetailsDialog(self.window())
        self.details_dialog.show_text(self.label.text(), self.details)
        return self.details_dialog


class _DetailsDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Error details")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self.copy)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(760, 420)

    def show_text(self, summary: str, details: str) -> None:
        self.summary.setText(summary)
        self.text.setPlainText(details)
        self.show()
        self.raise_()

    def copy(self) -> None:
        """The summary and the details, as one text, to the clipboard."""
        QGuiApplication.clipboard().setText(f"{self.summary.text()}\n\n"
                                            f"{self.text.toPlainText()}")
