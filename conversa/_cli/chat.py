"""`conversa chat`: a terminal conversation with line editing and local commands.

Each line typed is a message. A line ending in a backslash goes on on the next line,
and a line holding only three double quotes opens a block that the next such line
closes: either way the message keeps its line breaks. A line starting with `/` is a
command handled here and never sent (`/help` lists them); `//` at the start sends one
`/`. On a terminal, input is line-edited (the `readline` module where Python has it)
and kept in a history file (`history_path`); without a terminal (a pipe, a file) the
lines are read as they come, with no prompts.

An error is shown and the session goes on; the exit code is 1 if any message or
command failed, else 0. Nothing is stored until the first message of a new
conversation is sent.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .._client.client import Client
from .._conversation.conversation import Conversation
from .._exceptions import (
    APIError,
    ConversaError,
    HistoryRejectedError,
    PendingToolUseError,
    StreamError,
)
from .._stores import Store
from .._values.blocks import ToolResultBlock, ToolUseBlock
from .._values.turns import Turn
from .format import plural, usage_line

__all__ = ["HELP", "Chat", "NewConversation", "Style", "history_path"]

_BLOCK = '"""'
_HISTORY_LENGTH = 1000

HELP = """\
Type a message and press Enter. A line ending in \\ goes on on the next line; a line
holding only \"\"\" starts a block that the next \"\"\" line ends. Commands (never sent):
  /help               this list
  /retract [SEQ...]   hide the last exchange (or the turns named) from the replay;
                      they stay stored
  /regenerate         retract the last reply and ask again
  /retry              send your unanswered message again
  /cancel-tools       answer the tool calls the last reply asked for as canceled
  /model [NAME]       show or change the model
  /system [TEXT|-]    show, change or (with -) remove the system prompt
  /quit               leave (so do /exit and end of input, Ctrl-D)
Start a message with // to send one that starts with /."""


def history_path() -> Path:
    """Where `chat` keeps its input history.

    ``$XDG_STATE_HOME/conversa/chat_history`` (``~/.local/state`` when unset);
    on Windows ``%LOCALAPPDATA%\\conversa\\chat_history``.
    """
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(
            os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        )
    return base / "conversa" / "chat_history"


class Style:
    """ANSI colour for a stream, when it is a terminal and `NO_COLOR` is not set."""

    def __init__(self, stream: TextIO) -> None:
        self.enabled = (
            stream.isatty()
            and not os.environ.get("NO_COLOR")
            and os.environ.get("TERM") != "dumb"
        )

    def paint(self, text: str, code: str, *, prompt: bool = False) -> str:
        """*text* in SGR *code*; *prompt* marks the codes invisible for readline."""
        if not self.enabled:
            return text
        start, end = f"\033[{code}m", "\033[0m"
        if prompt:  # readline counts the prompt's width without these
            start, end = f"\001{start}\002", f"\001{end}\002"
        return f"{start}{text}{end}"


class NewConversation:
    """The settings of a conversation not stored yet: it is created at the first send."""

    def __init__(self, *, model: str, system: str | None, owner: str | None) -> None:
        self.model = model
        self.system = system
        self.owner = owner


class _Input:
    """Lines from the terminal (prompted, line-edited, with history) or from a pipe."""

    def __init__(self, stdin: TextIO, style: Style) -> None:
        self._stdin = stdin
        self.interactive = stdin.isatty()
        self._style = style
        self._history = self.interactive and _load_history()

    def line(self, prompt: str) -> str | None:
        """The next line without its newline, or None at the end of input."""
        if not self.interactive:
            line = self._stdin.readline()
            return line.removesuffix("\n") if line else None
        try:
            return input(self._style.paint(prompt, "1;32", prompt=True))
        except EOFError:
            print(file=sys.stdout)
            return None

    def entry(self) -> str | None:
        """The next message or command, multi-line input joined; None at the end."""
        first = self.line("you> ")
        if first is None:
            return None
        if first.strip() == _BLOCK:
            parts: list[str] = []
            while (more := self.line("...> ")) is not None and more.strip() != _BLOCK:
                parts.append(more)
            return "\n".join(parts)
        parts = [first]
        while parts[-1].endswith("\\"):
            parts[-1] = parts[-1][:-1]
            more = self.line("...> ")
            if more is None:
                break
            parts.append(more)
        return "\n".join(parts)

    def close(self) -> None:
        """Save the history (a terminal session only)."""
        if self._history:
            _save_history()


def _load_history() -> bool:
    """Turn on line editing with the saved history; False where readline is missing."""
    try:
        import readline  # absent on some platforms; only a terminal needs it
    except ImportError:  # pragma: no cover - Windows without a readline module
        return False
    readline.set_history_length(_HISTORY_LENGTH)
    with contextlib.suppress(OSError):
        readline.read_history_file(history_path())
    return True


def _save_history() -> None:
    import readline  # _load_history found it

    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        readline.write_history_file(path)
    except OSError as exc:  # a read-only home: the session itself worked
        print(f"conversa: history not saved to {path}: {exc}", file=sys.stderr)


def _retracted_seqs(turns: tuple[Turn, ...]) -> set[int]:
    return {seq for turn in turns for seq in turn.retracts}


def _last_exchange(turns: tuple[Turn, ...]) -> list[int]:
    """The seqs of the last visible exchange: the last typed message and what followed."""
    hidden = _retracted_seqs(turns)
    visible = [t for t in turns if t.kind == "message" and t.seq not in hidden]
    for index in range(len(visible) - 1, -1, -1):
        turn = visible[index]
        typed = not any(isinstance(b, ToolResultBlock) for b in turn.blocks)
        if turn.role == "user" and typed:
            return [t.seq for t in visible[index:] if t.seq is not None]
    return []


class Chat:
    """One `conversa chat` session: read, send or run a command, print, repeat."""

    def __init__(
        self,
        store: Store,
        client: Client,
        conv: Conversation | NewConversation,
        *,
        stdin: TextIO,
    ) -> None:
        self.store = store
        self.client = client
        self.conv = conv
        self.out = Style(sys.stdout)
        self.err = Style(sys.stderr)
        self.input = _Input(stdin, self.out)
        self.failed = False
        self._commands: dict[str, Callable[[str], None]] = {
            "help": self._help,
            "retract": self._retract,
            "regenerate": self._regenerate,
            "retry": self._retry,
            "cancel-tools": self._cancel_tools,
            "model": self._model,
            "system": self._system,
        }

    # -- the loop ------------------------------------------------------------------

    def run(self) -> int:
        """Talk until /quit or the end of input; return the exit code."""
        self.notice(self._greeting())
        if isinstance(self.conv, Conversation) and (
            pending := self.conv.pending_tool_uses()
        ):
            self._tools_waiting(tuple(b.id for b in pending), list(pending))
        try:
            while True:
                try:
                    entry = self.input.entry()
                except KeyboardInterrupt:  # Ctrl-C at the prompt: a fresh prompt
                    print()
                    continue
                if entry is None:
                    break
                if not self._handle(entry):
                    break
        finally:
            self.input.close()
        return 1 if self.failed else 0

    def _greeting(self) -> str:
        if isinstance(self.conv, NewConversation):
            return (
                "new conversation, stored at your first message; /help lists the "
                "commands, /quit or end of input leaves"
            )
        count = plural(self.conv.record().last_seq, "turn")
        return (
            f"conversation {self.conv.id}, {count}; /help lists the commands, /quit "
            "or end of input leaves"
        )

    def _handle(self, entry: str) -> bool:
        """Send or run one entry; False to leave."""
        text = entry.strip()
        if not text:
            return True
        if text.startswith("/") and not text.startswith("//"):
            name, _, rest = text[1:].partition(" ")
            if name in {"quit", "exit"}:
                return False
            command = self._commands.get(name)
            if command is None:
                self.notice(
                    f"unknown command /{name}: /help lists the commands; "
                    "start a message with // to send one that starts with /"
                )
                return True
            self._guarded(lambda: command(rest.strip()))
            return True
        message = entry[1:] if text.startswith("//") else entry
        self._guarded(lambda: self._send(message))
        return True

    def _guarded(self, action: Callable[[], None]) -> None:
        """Run *action*; an error is shown, marked failed, and the session goes on."""
        try:
            action()
        except KeyboardInterrupt:
            print()
            self.notice("interrupted")
        except PendingToolUseError as exc:
            self.failed = True
            self._tools_waiting(exc.tool_use_ids)
        except ConversaError as exc:
            self.failed = True
            self.error(str(exc))

    # -- printing ------------------------------------------------------------------

    def notice(self, text: str) -> None:
        """A line about the session (not the conversation) on stderr."""
        print(self.err.paint(text, "2"), file=sys.stderr, flush=True)

    def error(self, text: str) -> None:
        """An error line on stderr."""
        print(self.err.paint(f"conversa: error: {text}", "31"), file=sys.stderr)

    def _claude(self) -> str:
        return self.out.paint("claude> ", "1;36")

    def _reply_done(self, turn: Turn) -> None:
        if turn.usage is not None:
            self.notice(f"({usage_line(turn.usage, turn.model)})")
        calls = [b for b in turn.blocks if isinstance(b, ToolUseBlock)]
        if calls:
            self._tools_waiting(tuple(b.id for b in calls), calls)

    def _tools_waiting(
        self, ids: tuple[str, ...], calls: list[ToolUseBlock] | None = None
    ) -> None:
        names = ", ".join(f"{b.name} [{b.id}]" for b in calls) if calls else None
        what = names or ", ".join(ids)
        self.notice(
            f"the reply asks for {plural(len(ids), 'tool call')} the command line "
            f"cannot run: {what}; /cancel-tools answers them as canceled, then "
            "send your message"
        )

    # -- sending -------------------------------------------------------------------

    def _stored(self) -> Conversation:
        """The conversation, created now if this is its first message."""
        if isinstance(self.conv, NewConversation):
            new = self.conv
            self.conv = Conversation.create(
                self.store,
                client=self.client,
                model=new.model,
                system=new.system,
                owner=new.owner,
            )
            self.notice(f"conversation {self.conv.id}")
        return self.conv

    def _existing(self, what: str) -> Conversation | None:
        if isinstance(self.conv, NewConversation):
            self.notice(f"nothing to {what} yet: send a message first")
            return None
        return self.conv

    def _send(self, message: str) -> None:
        conv = self._stored()
        try:
            turn = self._stream(conv, message)
        except HistoryRejectedError as exc:
            print()
            recovered = self._recover(conv, exc)
            if recovered is None:
                self.failed = True
                return
            turn = recovered
            print(f"{self._claude()}{turn.text}")
        except APIError as exc:
            self.failed = True
            self.error(str(exc))
            if isinstance(exc, StreamError) and exc.partial:
                self.notice("the text that arrived is stored, marked interrupted")
            else:
                self.notice(
                    "your message is stored without a reply: /retry sends it again, "
                    "or it goes with your next message"
                )
            return
        if turn is not None:
            self._reply_done(turn)

    def _stream(self, conv: Conversation, message: str) -> Turn | None:
        started = False
        with conv.stream(message) as stream:
            try:
                for piece in stream:
                    if not started:
                        print(self._claude(), end="", flush=True)
                        started = True
                    print(piece, end="", flush=True)
            except KeyboardInterrupt:
                print()
                self.notice(
                    "interrupted: the text so far is stored, marked interrupted"
                )
                return None
            except ConversaError:
                if started:
                    print()
                raise
        if not started:
            print(self._claude(), end="")
        print()
        return stream.turn

    def _recover(self, conv: Conversation, exc: HistoryRejectedError) -> Turn | None:
        """Offer the way out of a stored turn the API refuses: retract it, send again."""
        self.error(str(exc))
        question = (
            f"retract turn {exc.turn_seq} (it stays stored, hidden from the replay) "
            "and send again? [y/N] "
        )
        if self.input.interactive:
            answer = self.input.line(question)
        else:
            print(question, end="", file=sys.stderr, flush=True)
            answer = self.input.line("")
        if (answer or "").strip().lower() not in {"y", "yes"}:
            return None
        conv.retract(exc.turn_seq)
        return conv.retry()

    # -- commands ------------------------------------------------------------------

    def _help(self, _: str) -> None:
        print(HELP)

    def _retract(self, rest: str) -> None:
        conv = self._existing("retract")
        if conv is None:
            return
        if rest:
            try:
                seqs = [int(word) for word in rest.split()]
            except ValueError:
                self.notice(f"/retract wants turn numbers, not {rest!r}")
                return
        else:
            seqs = _last_exchange(conv.turns())
            if not seqs:
                self.notice("nothing to retract")
                return
        conv.retract(*seqs)
        noun = "turn" if len(seqs) == 1 else "turns"
        shown = ", ".join(str(s) for s in seqs)
        self.notice(f"retracted {noun} {shown}: hidden from the replay, kept stored")

    def _regenerate(self, _: str) -> None:
        self._ask_again("regenerate", Conversation.regenerate)

    def _retry(self, _: str) -> None:
        self._ask_again("retry", Conversation.retry)

    def _ask_again(self, what: str, ask: Callable[[Conversation], Turn]) -> None:
        conv = self._existing(what)
        if conv is not None:
            turn = ask(conv)
            print(f"{self._claude()}{turn.text}")
            self._reply_done(turn)

    def _cancel_tools(self, _: str) -> None:
        conv = self._existing("cancel")
        if conv is None:
            return
        pending = conv.pending_tool_uses()
        if not pending:
            self.notice("no tool calls are waiting")
            return
        conv.cancel_tool_uses()
        self.notice(
            f"canceled {plural(len(pending), 'tool call')}: "
            + ", ".join(f"{b.name} [{b.id}]" for b in pending)
        )

    def _model(self, rest: str) -> None:
        if not rest:
            model = (
                self.conv.model
                if isinstance(self.conv, NewConversation)
                else self.conv.record().model
            )
            self.notice(f"model {model}")
            return
        if isinstance(self.conv, NewConversation):
            self.conv.model = rest
        else:
            self.conv.set_model(rest)
        self.notice(f"model is now {rest}")

    def _system(self, rest: str) -> None:
        if not rest:
            self.notice(f"system prompt: {self._system_text() or '(none)'}")
            return
        system = None if rest == "-" else rest
        if isinstance(self.conv, NewConversation):
            self.conv.system = system
        else:
            self.conv.set_system(system)
        self.notice("system prompt removed" if system is None else "system prompt set")

    def _system_text(self) -> str | None:
        if isinstance(self.conv, NewConversation):
            return self.conv.system
        system = self.conv.record().system
        if system is None or isinstance(system, str):
            return system
        return "".join(getattr(b, "text", "") for b in system)
