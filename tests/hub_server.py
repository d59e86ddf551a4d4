"""A small local server that speaks the Hugging Face Hub's HTTP protocol, for the online code paths' tests.

It serves repos held in memory (``{repo_type: {repo_id: {path: bytes}}}``) on 127.0.0.1:

- ``GET /api/{models|datasets}/{repo}[/revision/{rev}]``: repo info with its files (``siblings``);
- ``GET /api/.../{repo}/tree/{rev}[/{path}]``: a folder listing (``recursive=true`` for everything below);
- ``POST /api/.../{repo}/paths-info/{rev}``: info on given paths;
- ``HEAD``/``GET /[datasets/]{repo}/resolve/{rev}/{path}``: a file, with ``ETag``, ``X-Repo-Commit``,
  ``Content-Length`` and ``Range`` requests answered 206. A missing file answers 404 with
  ``X-Error-Code: EntryNotFound``, a missing repo 404 with ``RepoNotFound``.

It is also the clients' proxy: point ``HTTP(S)_PROXY`` at it and every request for another host is
refused (403) and recorded in ``foreign``
(except the dataset viewer's ``datasets-server.127.0.0.1``, answered 404 like any unknown path),
so a test can assert that nothing left 127.0.0.1.
Every request is recorded in ``requests``.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


class HubServer:
    """``with HubServer(repos) as hub: ... hub.url ...``"""

    def __init__(self, repos: dict[str, dict[str, dict[str, bytes]]]):
        self.repos = repos
        self.requests: list[str] = []
        self.foreign: list[str] = []
        self.unhandled: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def find(self, repo_type: str, rest: str) -> tuple[str, str] | None:
        """(repo id, what follows it) for a path that starts with a served repo's id; longest id first."""
        for repo in sorted(self.repos.get(repo_type, {}), key=len, reverse=True):
            if rest == repo or rest.startswith(repo + "/"):
                return repo, rest[len(repo) + 1:]
        return None


def _oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _entry(path: str, data: bytes | None) -> dict:
    if data is None:
        return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "path": path}
    return {"type": "file", "oid": _oid(data), "size": len(data), "path": path,
            "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}}


def _handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        # ---------------------------------------------------------------- answers
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def _json(self, obj) -> None:
            self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

        def _not_found(self, code: str, head: bool = False) -> None:
            body = json.dumps({"error": code}).encode()
            self._send(404, body, {"X-Error-Code": code, "X-Error-Message": code,
                                   "Content-Type": "application/json"}, head=head)

        def _foreign(self) -> bool:
            target = self.path if self.command != "CONNECT" else f"https://{self.path}"
            host = urlsplit(target).hostname if "://" in target else None
            # datasets asks the Hub's viewer at datasets-server.<HF_ENDPOINT's host>: ours answers 404 for it
            local = host in (None, "127.0.0.1", "localhost") or host.endswith(".127.0.0.1")
            if self.command == "CONNECT" or not local:
                hub.foreign.append(f"{self.command} {target}")
                self._send(403, b"only 127.0.0.1 is served in tests", {"Connection": "close"})
                self.close_connection = True
                return True
            return False

        # ---------------------------------------------------------------- routes
        def do_CONNECT(self) -> None:
            self._foreign()

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            self._route(head=False, form=body)

        def _route(self, head: bool, form: str | None = None) -> None:
            if self._foreign():
                return
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            hub.requests.append(f"{self.command} {path}")
            api = re.match(r"/api/(models|datasets)/(.+)$", path)
            if api:
                return self._api(api.group(1)[:-1], api.group(2), query, form)
            repo_type, rest = ("dataset", path[len("/datasets/"):]) if path.startswith("/datasets/") \
                else ("model", path[1:])
            found = hub.find(repo_type, rest)
            resolve = re.match(r"resolve/([^/]+)/(.+)$", found[1]) if found else None
            if not resolve:
                hub.unhandled.append(f"{self.command} {self.path}")
                return self._not_found("RepoNotFound", head)
            files = hub.repos[repo_type][found[0]]
            data = files.get(resolve.group(2))
            if data is None:
                return self._not_found("EntryNotFound", head)
            headers = {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Repo-Commit": COMMIT,
                       "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
            wanted = _RANGE.match(self.headers.get("Range", ""))
            if wanted and not head:
                first = int(wanted.group(1)) if wanted.group(1) else max(0, len(data) - int(wanted.group(2)))
                last = int(wanted.group(2)) if wanted.group(1) and wanted.group(2) else len(data) - 1
                last = min(last, len(data) - 1)
                headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
                return self._send(206, data[first:last + 1], headers)
            self._send(200, data, headers, head=head)

        def _api(self, repo_type: str, rest: str, query: dict, form: str | None) -> None:
            found = hub.find(repo_type, rest)
            if found is None:
                hub.unhandled.append(f"{self.command} {self.path}")
                return self._not_found("RepoNotFound")
            repo, tail = found
            files = hub.repos[repo_type][repo]
            if tail == "" or re.fullmatch(r"revision/[^/]+", tail):
                return self._json({"id": repo, "modelId": repo, "sha": COMMIT, "private": False, "gated": False,
                                   "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                                   "lastModified": "2026-01-01T00:00:00.000Z",
                                   "siblings": [{"rfilename": p, "size": len(d)} for p, d in sorted(files.items())]})
            tree = re.fullmatch(r"tree/([^/]+)/?(.*)", tail)
            if tree:
                return self._json(self._listing(files, tree.group(2).strip("/"),
                                                query.get("recursive", ["false"])[0].lower() == "true"))
            if re.fullmatch(r"paths-info/[^/]+", tail):
                wanted = parse_qs(form or "").get("paths", [])
                if form and form.lstrip().startswith("{"):
                    wanted = json.loads(form).get("paths", [])
                dirs = {p.rsplit("/", 1)[0] for p in files if "/" in p}
                return self._json([_entry(p, files.get(p)) for p in wanted if p in files or p in dirs])
            hub.unhandled.append(f"{self.command} {self.path}")
            self._not_found("EntryNotFound")

        @staticmethod
        def _listing(files: dict[str, bytes], folder: str, recursive: bool) -> list[dict]:
            prefix = folder + "/" if folder else ""
            entries: dict[str, dict] = {}
            for path, data in sorted(files.items()):
                if not path.startswith(prefix):
                    continue
                parts = path[len(prefix):].split("/")
                for depth in range(1, len(parts)):  # the folders on the way
                    sub = prefix + "/".join(parts[:depth])
                    if recursive or depth == 1:
                        entries.setdefault(sub, _entry(sub, None))
                if recursive or len(parts) == 1:
                    entries[path] = _entry(path, data)
            return list(entries.values())

    return Handler
