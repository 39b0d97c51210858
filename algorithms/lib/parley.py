"""The library a Python algorithm uses inside its Parley container: standard library only.

It has the surface of algorithms/lib/parley.js, in Python's spelling: `import parley` (the
image puts this file on PYTHONPATH), then

    rows = read the CSV under parley.data_path("patients")
    if len(rows) < parley.min_rows():
        parley.fail("The cohort is smaller than the site's disclosure threshold.")
    parley.write_volume_json("model.json", {...})   # for a later step at this site
    parley.send("registry-b", {...})               # sealed for registry-b by the site worker
    parley.output({...})                            # the step's result, for the requester

What the container sees is fixed by the container contract (DESIGN.md): the step's arguments
and ids in the environment, its inputs as files already opened by the site worker, the run
volume, the read-only datasets, and the worker's Unix socket, the only way anything leaves.

Nothing here logs a value: an algorithm's log lines travel with a failure (sealed for the
site's own operator, but still read by people), so they must not carry data. Write what went
wrong, never what a value was.
"""

import http.client
import json
import os
import re
import socket
import sys

__all__ = [
    "args", "run_id", "step", "org", "participants", "volume_path",
    "fail", "min_rows", "read_inputs", "data_path", "volume_file",
    "write_volume_json", "read_volume_json", "send", "report_cohort", "output",
    "SiteWorkerRefusal",
]

INPUT_DIR = "/run/parley/input"
SOCKET_PATH = "/run/parley/node.sock"
DATA_DIR = "/data"
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# A file name in the run volume: one path segment, so a step cannot write outside it.
_VOLUME_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# The disclosure threshold when the site worker passes none (as in parley.js).
_DEFAULT_MIN_ROWS = 10

#: The run volume: private to this run at this site, kept across the run's steps here.
volume_path = "/run/parley/volume"


def fail(message):
    """Writes `message` to stderr and exits 1: the step fails and the site reports the message
    among the container's last log lines. Never put a value in it."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    # os._exit, not sys.exit: a caller's `except Exception` (or a bare except) must not be able
    # to swallow the failure and carry on to release something.
    os._exit(1)


def _parse_args(raw):
    if raw is None or raw == "":
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return fail("PARLEY_ARGS is not valid JSON: the site worker passes the step's arguments there.")


def min_rows():
    """The site operator's disclosure threshold: the fewest rows an aggregate this step releases
    may rest on (PARLEY_MIN_ROWS, set by the site worker; 10 when absent). An algorithm that would
    release an aggregate over fewer rows must fail instead, and release nothing. Read when called,
    so an algorithm that releases no aggregate never fails over it."""
    raw = os.environ.get("PARLEY_MIN_ROWS", "")
    if raw == "":
        return _DEFAULT_MIN_ROWS
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < 1:
        return fail("PARLEY_MIN_ROWS is not a positive whole number: the site worker sets it from its disclosureThreshold.")
    return int(raw)


#: The step's arguments (JSON from PARLEY_ARGS; {} when none).
args = _parse_args(os.environ.get("PARLEY_ARGS"))
#: The run this step belongs to.
run_id = os.environ.get("PARLEY_RUN_ID", "")
#: This step's id within the run.
step = os.environ.get("PARLEY_STEP", "")
#: The organisation (site) this step runs at.
org = os.environ.get("PARLEY_ORG", "")
#: Every organisation taking part in the run, in the run's order.
participants = [p.strip() for p in os.environ.get("PARLEY_PARTICIPANTS", "").split(",") if p.strip() != ""]


def read_inputs():
    """The step's inputs: each entry of /run/parley/input/index.json ({file, from, step, seq}) as
    a dict with its file's parsed JSON under "content". No index gives an empty list; a missing
    or malformed file fails the step."""
    try:
        with open(os.path.join(INPUT_DIR, "index.json"), encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return fail("The step's input index (/run/parley/input/index.json) is not readable JSON.")
    if not isinstance(index, list):
        return fail("The step's input index is not a list.")
    inputs = []
    for i, entry in enumerate(index):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            return fail("Input %d in the step's index names no file." % i)
        # basename: an index entry can only name a file in the input directory itself.
        name = os.path.basename(entry["file"])
        try:
            with open(os.path.join(INPUT_DIR, name), encoding="utf-8") as f:
                content = json.load(f)
        except (OSError, ValueError):
            return fail("Input %d (%s) is missing or not JSON." % (i, name))
        inputs.append({"file": entry["file"], "from": entry.get("from"), "step": entry.get("step"), "seq": entry.get("seq"), "content": content})
    return inputs


def data_path(dataset):
    """The read-only directory of one of the site's datasets the step asked for."""
    if not isinstance(dataset, str) or not _DATASET_NAME.match(dataset):
        raise TypeError('A dataset name is one path segment of letters, digits, ".", "_" or "-".')
    return os.path.join(DATA_DIR, dataset)


def volume_file(name):
    """The path of `name` in the run volume; TypeError unless `name` is one plain path segment."""
    if not isinstance(name, str) or not _VOLUME_FILE.match(name):
        raise TypeError('A run-volume file name is one path segment of letters, digits, ".", "_" or "-".')
    return os.path.join(volume_path, name)


def write_volume_json(name, content):
    """Writes `content` as JSON to `name` in the run volume, readable by the sandbox user only
    (0600), through a temporary file and a rename, so a later step never reads half a file."""
    path = volume_file(name)
    temporary = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(content, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def read_volume_json(name):
    """Reads and parses the JSON file `name` in the run volume. Returns None when it does not
    exist; fails the step (naming the file, not its content) when it is not JSON."""
    try:
        with open(volume_file(name), encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError:
        return fail("%s in the run volume is not readable." % name)
    try:
        return json.loads(text)
    except ValueError:
        return fail("%s in the run volume is not valid JSON: the step that wrote it did not finish, or wrote something else." % name)


class SiteWorkerRefusal(Exception):
    """The site worker refused a request (or its socket did not answer). The message is the
    worker's own reason; it never holds the content that was sent."""


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over the worker's Unix socket: http.client with the connect step swapped."""

    def __init__(self, path):
        super().__init__("localhost")
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self._path)
        self.sock = sock


def _post(path, body):
    # allow_nan=False: NaN and Infinity are not JSON, and the worker would refuse the body anyway.
    payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode("utf-8")
    # A fresh connection per call, closed after: an idle one would only delay the exit.
    connection = _UnixConnection(SOCKET_PATH)
    try:
        try:
            connection.request("POST", path, body=payload, headers={"content-type": "application/json", "content-length": str(len(payload))})
        except (BrokenPipeError, ConnectionResetError):
            # The worker answers a refusal before it has read the body; should it close before
            # the body is all written, its answer is still there to be read.
            pass
        response = connection.getresponse()
        raw = response.read()
        status = response.status
    except OSError as err:
        raise SiteWorkerRefusal("The site worker's socket did not answer POST %s: %s" % (path, type(err).__name__)) from None
    finally:
        connection.close()
    try:
        answer = json.loads(raw.decode("utf-8") or "{}")
    except ValueError:
        answer = {}
    if 200 <= status < 300:
        return answer
    reason = answer.get("error", "no reason given") if isinstance(answer, dict) else "no reason given"
    raise SiteWorkerRefusal("The site worker refused POST %s (%d): %s" % (path, status, reason))


def send(to, content):
    """Sends `content` (any JSON value) to organisation `to`; the site worker seals it for them
    after the step. Raises SiteWorkerRefusal when the worker refuses (for example, `to` is not a
    recipient this step may address)."""
    # The content's JSON is the whole body, which the worker streams to disk as it comes: a large
    # message is never held whole by the worker (the older POST /v1/messages {to, content} still works).
    _post("/v1/messages/" + _path_segment(str(to)), content)


def _path_segment(text):
    # Percent-encoded as a URL path segment (RFC 3986 §2.1); by hand, as the minimal Python of
    # the base image may lack urllib.
    unreserved = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    return "".join(chr(b) if b in unreserved else "%%%02X" % b for b in text.encode("utf-8"))


def report_cohort(dataset, rows):
    """Tells the site worker which rows of `dataset` the step's cohort holds, by their ids. The
    worker keeps them (as keyed hashes) in its release ledger and refuses a cohort that differs
    from one it released before by fewer rows than its disclosure threshold: the step then fails
    and nothing it produced leaves the site. Never sent to anyone. At most once per dataset."""
    _post("/v1/cohort", {"dataset": dataset, "rows": list(rows)})


def output(content):
    """Records the step's result (any JSON value) for the run's requester. A step has at most
    one output."""
    _post("/v1/output", {"content": content})
