"""`ketch stats [OPTIONS] [CONTAINER...]` (`ketch container stats`): containers' resource
usage as the docker CLI shows it. One reader thread per container follows its
`GET /containers/{id}/stats`; the table is redrawn in place every half second (cursor
home, each line erased to its end, the rest of the screen cleared), or printed once with
--no-stream. Without CONTAINER it watches the running containers (all with -a), following
the daemon's events as containers start and die."""

from __future__ import annotations

import sys
import threading
import time

from ketch.cli.command import CLIError, Command
from ketch.cli.context import Context
from ketch.cli.flags import Flag, Parsed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ketch.cli.stats_format import StatsEntry
    from ketch.client import Client

REDRAW = 0.5  # seconds between redraws, the docker CLI's ticker
HOME, ERASE_LINE, ERASE_BELOW = "\033[H", "\033[K", "\033[J"


class Watch:
    """One container's stats, kept up to date by a reader thread."""

    def __init__(self, client: Client, container: str, stream: bool) -> None:
        from ketch.cli.stats_format import StatsEntry

        self.client = client
        self.container = container
        self.stream = stream
        self.entry = StatsEntry(container)
        self.error: str | None = None
        self.first = threading.Event()  # a sample came, or an error
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Watch:
        self.thread.start()
        return self

    def snapshot(self) -> StatsEntry:
        from dataclasses import replace

        with self.lock:
            return replace(self.entry)

    def _fail(self, message: str) -> None:
        with self.lock:
            self.error = message
            self.entry.invalid = True
        self.first.set()

    def _run(self) -> None:
        from ketch.cli.stats_format import entry_of
        from ketch.client.errors import APIError, DaemonUnavailable, ProtocolError
        from ketch.client.stream import json_lines

        try:
            resp = self.client.stats(self.container, stream=self.stream)
        except (APIError, DaemonUnavailable, ProtocolError, OSError) as e:
            self._fail(str(e))
            return
        try:
            for sample in json_lines(resp.iter_chunks()):
                entry = entry_of(self.container, sample)
                with self.lock:
                    self.entry, self.error = entry, None
                self.first.set()
                if not self.stream:
                    return
            self._fail("EOF")  # the stream ended: the container is gone
        except (ProtocolError, OSError) as e:
            self._fail(str(e))
        finally:
            resp.conn.close()
            self.first.set()


class Board:
    """The containers shown, in the order they were added (the docker CLI's cStats)."""

    def __init__(self, client: Client, stream: bool) -> None:
        self.client = client
        self.stream = stream
        self.watches: list[Watch] = []
        self.lock = threading.Lock()

    def add(self, container: str) -> bool:
        with self.lock:
            if any(w.container == container for w in self.watches):
                return False
            self.watches.append(Watch(self.client, container, self.stream).start())
            return True

    def remove(self, container: str) -> None:
        with self.lock:
            self.watches = [w for w in self.watches if w.container != container]

    def current(self) -> list[Watch]:
        with self.lock:
            return list(self.watches)

    def wait_first(self) -> None:
        for watch in self.current():
            watch.first.wait()

    def errors(self) -> list[str]:
        return [w.error for w in self.current() if w.error]


def _follow_events(client: Client, board: Board, all_: bool) -> threading.Event:
    """Add containers as they start (or are created, with -a) and drop them as they die
    (without -a); the returned event is set once the subscription is made."""
    subscribed = threading.Event()

    def run() -> None:
        from ketch.client.stream import json_lines

        try:
            resp = client.events(filters={"type": ["container"]})
        except Exception:  # no events: the initial list is all there is
            subscribed.set()
            return
        subscribed.set()
        try:
            for event in json_lines(resp.iter_chunks()):
                action = str(event.get("Action") or event.get("status") or "")
                ident = str((event.get("Actor") or {}).get("ID") or event.get("id") or "")[:12]
                if not ident:
                    continue
                if action == "start" or (all_ and action == "create"):
                    board.add(ident)
                elif action == "die" and not all_:
                    board.remove(ident)
        except Exception:  # the daemon went away: stop following
            return
        finally:
            resp.conn.close()

    threading.Thread(target=run, daemon=True).start()
    return subscribed


def _table(fmt: str, watches: list[Watch], trunc: bool) -> str:
    from ketch.cli.formatter import render
    from ketch.cli.stats_format import TITLES, StatsRow

    try:
        return render(fmt, [StatsRow(w.snapshot(), trunc=trunc) for w in watches], TITLES)
    except CLIError as e:
        raise CLIError(f"template parsing error: {e.message}") from None


def _check_template(fmt: str) -> None:
    from ketch.cli.formatter import prepare
    from ketch.cli.gotemplate import Template, TemplateError

    try:
        Template(prepare(fmt)[1])
    except TemplateError as e:
        raise CLIError(f"template parsing error: template: {e}") from None


def _stats(ctx: Context, opts: Parsed) -> int:
    from ketch.cli.stats_format import stats_format

    fmt = stats_format(opts.format or "")
    _check_template(fmt)
    client = ctx.client
    stream = not opts.no_stream
    board = Board(client, stream)
    if opts.args:
        for container in opts.args:
            board.add(container)
        board.wait_first()
        errors = board.errors()
        if errors:
            raise CLIError("\n".join(errors))
    else:
        if stream:  # subscribed before listing, so that no start is missed
            _follow_events(client, board, bool(opts.all)).wait(5)
        for c in client.containers(all=bool(opts.all)):
            board.add(str(c.get("Id", ""))[:12])
        board.wait_first()
    trunc = not opts.no_trunc
    if not stream:
        ctx.write(_table(fmt, board.current(), trunc))
        return 0
    out = sys.stdout
    while True:
        text = _table(fmt, board.current(), trunc)
        out.write(HOME + "".join(line + ERASE_LINE + "\n" for line in text.splitlines())
                  + ERASE_BELOW)
        out.flush()
        time.sleep(REDRAW)


FLAGS = (Flag("all", "a", help="Show all containers (default shows just running)"),
         Flag("format", kind="string",
              help="Format output using a custom template:\n'table':            Print "
                   "output in table format with column headers (default)\n'table "
                   "TEMPLATE':   Print output in table format using the given Go "
                   "template\n'json':             Print in JSON format\n'TEMPLATE':"
                   "         Print output using the given Go template."),
         Flag("no-stream", help="Disable streaming stats and only pull the first result"),
         Flag("no-trunc", help="Do not truncate output"))


STATS = Command(
    name="stats", usage="ketch stats [OPTIONS] [CONTAINER...]",
    description="Display a live stream of container(s) resource usage statistics",
    flags=FLAGS, handler=_stats, aliases="ketch container stats, ketch stats")
