"""`conversa chat`: slash commands, multi-line input, errors that keep the session,
continuing the latest conversation, and a real pseudo-terminal (line editing,
history, colour)."""

from __future__ import annotations

import importlib.util
import io
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conversa import Client, Conversation, SQLiteStore, Turn
from conversa._cli.chat import HELP, history_path
from conversa._cli.main import main
from conversa.testing import FakeMessagesAPI, fault, reply

MODEL = "claude-sonnet-4-5"


@pytest.fixture(name="url")
def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'c.db'}"


Chat = Callable[..., tuple[int, str, str]]


@pytest.fixture(name="chat")
def _chat(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Chat:
    """Run `chat` on typed text as piped input (against a fake, or --offline)."""

    def chat(
        typed: str, *argv: str, fake: FakeMessagesAPI | None = None
    ) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
        if fake is None:
            code = main(["--store", url, "chat", "--offline", *argv])
        else:
            code = main(["--store", url, "chat", *argv], transport=fake)
        out, err = capsys.readouterr()
        return code, out, err

    return chat


def messages_sent(fake: FakeMessagesAPI) -> list[str]:
    """The last user text of every message request the fake received."""
    texts = []
    for request in fake.requests:
        if request.path != "/v1/messages":
            continue
        content = request.body["messages"][-1]["content"]
        texts.append(
            content
            if isinstance(content, str)
            else "".join(b.get("text", "") for b in content)
        )
    return texts


def only(tmp_path: Path) -> tuple[Turn, ...]:
    """The turns of the one conversation stored, read with the store open."""
    with SQLiteStore(tmp_path / "c.db") as store:
        (record,) = store.list().items
        return Conversation.load(store, record.id).turns()


def test_slash_commands_are_never_sent(chat: Chat, tmp_path: Path) -> None:
    """/help, /model, /system and an unknown /x are answered here; // sends one /."""
    fake = FakeMessagesAPI()
    typed = "/help\n/model claude-opus-4-5\n/frobnicate\nhi\n/system\n//etc/hosts\n"
    code, out, err = chat(typed, fake=fake)
    assert code == 0
    assert HELP in out
    assert "unknown command /frobnicate: /help lists the commands" in err
    assert "model is now claude-opus-4-5" in err
    assert "system prompt: (none)" in err
    assert messages_sent(fake) == ["hi", "/etc/hosts"]
    assert [r.body["model"] for r in fake.requests] == ["claude-opus-4-5"] * 2


def test_multi_line_input(chat: Chat, tmp_path: Path) -> None:
    """A trailing backslash goes on; a \"\"\" block is one message; both keep newlines."""
    typed = 'first \\\nsecond\n"""\nline a\n\nline c\n"""\n'
    code, _, _ = chat(typed)
    assert code == 0
    user = [t.text for t in only(tmp_path) if t.role == "user"]
    assert user == ["first \nsecond", "line a\n\nline c"]


def test_quitting_at_once_stores_nothing(chat: Chat, tmp_path: Path) -> None:
    """/quit (or end of input, or only commands) before a message: no conversation."""
    for typed in ("/quit\n", "", "/model\n/system Be brief\n"):
        code, _, err = chat(typed)
        assert code == 0
        assert "stored at your first message" in err
    with SQLiteStore(tmp_path / "c.db") as store:
        assert store.list().items == ()


def test_an_api_error_keeps_the_session(chat: Chat, tmp_path: Path) -> None:
    """An API error is shown, the next line is still sent; exit code 1 tells."""
    fake = FakeMessagesAPI()
    fake.script(fault.status(403), reply.text("Back again."))
    code, out, err = chat("one\n/retry\n", fake=fake)
    assert code == 1
    assert "conversa: error: " in err
    assert "your message is stored without a reply: /retry sends it again" in err
    assert "Traceback" not in err
    assert "claude> Back again." in out
    turns = only(tmp_path)
    assert [(t.role, t.text) for t in turns] == [
        ("user", "one"),
        ("assistant", "Back again."),
    ]


def test_an_unanswered_tool_call_offers_cancel_tools(
    chat: Chat, tmp_path: Path
) -> None:
    """A reply asking for a tool points to /cancel-tools, never to Python code."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("weather", {"city": "Paris"}, id="toolu_1"))
    typed = "weather?\nstill there?\n/cancel-tools\nstill there?\n"
    code, out, err = chat(typed, fake=fake)
    assert code == 1  # "still there?" failed once
    assert "add_tool_results" not in err
    assert "the reply asks for 1 tool call the command line cannot run: " in err
    assert "weather [toolu_1]; /cancel-tools answers them as canceled" in err
    assert "canceled 1 tool call: weather [toolu_1]" in err
    assert out.count("claude> ") == 2
    assert messages_sent(fake)[-1] == "still there?"


def test_a_resumed_conversation_with_a_pending_tool_call_says_so(
    chat: Chat, tmp_path: Path
) -> None:
    """`chat ID` on a conversation whose last reply awaits tools points to /cancel-tools."""
    fake = FakeMessagesAPI()
    fake.script(reply.tool_use("weather", {"city": "Paris"}, id="toolu_9"))
    with (
        SQLiteStore(tmp_path / "c.db") as store,
        Client(api_key="sk-test", transport=fake) as client,
    ):
        conv = Conversation.create(store, client=client, model=MODEL)
        conv.send("Weather?")
    code, _, err = chat("", conv.id)
    assert code == 0
    assert "weather [toolu_9]; /cancel-tools answers them as canceled" in err


def test_retract_and_regenerate(chat: Chat, tmp_path: Path) -> None:
    """/retract hides the last exchange; /regenerate asks again for the last reply."""
    fake = FakeMessagesAPI()
    fake.script(reply.text("A"), reply.text("B"), reply.text("C"))
    typed = "one\ntwo\n/retract\n/regenerate\n"
    code, out, err = chat(typed, fake=fake)
    assert code == 0
    assert "retracted turns 3, 4: hidden from the replay, kept stored" in err
    assert "claude> C" in out
    turns = only(tmp_path)
    assert [t.retracts for t in turns if t.kind == "retraction"] == [(3, 4), (2,)]
    assert len(fake.requests[-1].body["messages"]) == 1  # "one" alone, asked again


def test_commands_before_the_first_message_say_so(chat: Chat) -> None:
    """/retract, /regenerate, /cancel-tools with nothing stored: a local message."""
    typed = "/retract\n/regenerate\n/cancel-tools\n"
    code, _, err = chat(typed)
    assert code == 0
    assert err.count("yet: send a message first") == 3


def test_continue_the_latest_and_a_named_conversation(
    chat: Chat, tmp_path: Path
) -> None:
    """`chat -c` continues the newest conversation; `chat ID` the one named."""
    with (
        SQLiteStore(tmp_path / "c.db") as store,
        Client(api_key="sk-test", transport=FakeMessagesAPI()) as client,
    ):
        older = Conversation.create(store, client=client, model=MODEL)
        older.send("old")
        newer = Conversation.create(store, client=client, model=MODEL)
        newer.send("new")
    code, _, err = chat("more\n", "-c")
    assert code == 0
    assert f"conversation {newer.id}, 2 turns" in err
    code, _, _ = chat("again\n", older.id)
    assert code == 0
    with SQLiteStore(tmp_path / "c.db") as store:
        assert [t.text for t in store.read(newer.id)][2] == "more"
        assert [t.text for t in store.read(older.id)][2] == "again"
    code, _, err = chat("", "-c", older.id)
    assert code == 2
    assert "not both" in err


def test_continue_with_nothing_stored_is_one_line(chat: Chat) -> None:
    """`chat -c` in an empty store says there is nothing to continue; exit 1."""
    code, _, err = chat("", "-c")
    assert code == 1
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("conversa: error: no conversation to continue")
    )


# -- a real pseudo-terminal ------------------------------------------------------------

pytestmark_pty = pytest.mark.skipif(
    sys.platform == "win32" or importlib.util.find_spec("readline") is None,
    reason="pseudo-terminals are POSIX; line editing needs Python's readline module",
)


class Terminal:
    """`conversa chat` on a pseudo-terminal: type keys, read the screen's bytes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import pty  # POSIX only, as the tests that use it

        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "conversa", *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
        )
        os.close(slave)
        self.seen = b""
        self.cursor = 0

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def expect(self, text: str, *, deadline: float = 60.0) -> str:
        """Read until *text* appears after the previous match; return all read so far."""
        wanted = text.encode()
        give_up = time.monotonic() + deadline  # a guard against a hang, not a measure
        while (found := self.seen.find(wanted, self.cursor)) < 0:
            if time.monotonic() > give_up:
                msg = f"{text!r} never appeared; the terminal showed {self.seen!r}"
                raise AssertionError(msg)
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    break
        assert found >= 0, self.seen
        self.cursor = found + len(wanted)
        return self.seen.decode(errors="replace")

    def at_prompt(self, keys: str) -> None:
        """Wait for the next prompt, then type *keys* (readline is reading then)."""
        self.expect("you> ")
        self.type(keys)

    def close(self) -> int:
        """Wait for the session to end (killing it if it hangs); its exit code."""
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            os.close(self.master)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"NO_COLOR", "ANTHROPIC_API_KEY", "CONVERSA_STORE"}
    }
    env.update(
        HOME=str(tmp_path),
        XDG_STATE_HOME=str(tmp_path / "state"),
        TERM="xterm",
        **extra,
    )
    return env


@pytestmark_pty
def test_terminal_line_editing_history_commands_and_colour(tmp_path: Path) -> None:
    """Up recalls the last line, slash commands stay local, a block is one message,
    the history survives the session, and the prompts are coloured."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    term = Terminal(["--store", url, "chat", "--offline"], _env(tmp_path))
    term.at_prompt("hello there\r")
    term.expect("(fake reply #1 to: hello there)")
    term.at_prompt("\x1b[A\r")  # Up arrow, then Enter: the same line again
    term.expect("(fake reply #2 to: hello there)")
    term.at_prompt("/help\r")
    term.expect("/cancel-tools")
    term.at_prompt("/nope\r")
    term.expect("unknown command /nope")
    term.at_prompt('"""\r')
    for line in ("one\r", "two\r", '"""\r'):
        term.expect("...> ")
        term.type(line)
    term.expect("(fake reply #3 to: one two)")
    term.at_prompt("/quit\r")
    screen = term.expect("/quit")
    assert term.close() == 0
    assert "\x1b[1;36mclaude> " in screen
    assert "^[[A" not in screen
    history = (tmp_path / "state" / "conversa" / "chat_history").read_text()
    assert "hello there" in history
    assert "/help" in history
    with SQLiteStore(tmp_path / "c.db") as store:
        (record,) = store.list().items
        texts = [t.text for t in store.read(record.id) if t.role == "user"]
    assert texts == ["hello there", "hello there", "one\ntwo"]


@pytestmark_pty
def test_terminal_history_is_read_back_and_no_color_is_honoured(
    tmp_path: Path,
) -> None:
    """A new session recalls the last one's lines; NO_COLOR leaves the prompts plain."""
    env = _env(tmp_path, NO_COLOR="1")
    path = tmp_path / "state" / "conversa" / "chat_history"
    path.parent.mkdir(parents=True)
    path.write_text("from last time\n")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    term = Terminal(["--store", url, "chat", "--offline"], env)
    term.at_prompt("\x1b[A\r")
    screen = term.expect("(fake reply #1 to: from last time)")
    term.at_prompt("\x04")  # Ctrl-D: end of input
    assert term.close() == 0
    assert "\x1b[1;36m" not in screen
    assert "\x1b[1;32m" not in screen


def test_history_path_follows_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history lives under $XDG_STATE_HOME, else ~/.local/state."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert history_path() == tmp_path / "conversa" / "chat_history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    if os.name != "nt":
        assert (
            history_path()
            == tmp_path / ".local" / "state" / "conversa" / "chat_history"
        )


def test_piped_output_has_no_colour(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a terminal: no escape codes, whatever TERM says."""
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    _, out, err = chat("hi\n")
    assert "\x1b[" not in out + err
