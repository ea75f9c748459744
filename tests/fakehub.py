"""A local HTTP server speaking the part of the Hub API that ``huggingface_hub`` uses for small files.

Endpoints (checked with huggingface_hub 2.4, DESIGN.md §5): repo creation, repo info with
``sha`` and ``siblings`` (with ``blobId`` when ``?blobs=true``), preupload, the NDJSON commit
(``parentCommit`` on a stale sha answers 412, as the Hub does), ``resolve`` HEAD/GET with
``X-Repo-Commit`` and ``ETag``, and ``/api/validate-yaml``, which ``upload_folder`` calls for a
``README.md`` (400 with ``errors`` when its front matter is not a YAML mapping). Commits are kept in memory with their full history, so a
download at an old commit returns that commit's file.

Also, for gated datasets and submission repos: ``GET /api/{type}s/{repo}/tree/{revision}``
(what ``snapshot_download`` lists), ``GET /api/whoami-v2`` (the user of a token, see
:meth:`FakeHub.add_user`), and gating (:meth:`FakeHub.gate`): as the Hub answers for a gated repo,
401 with ``X-Error-Code: GatedRepo`` without a token and 403 with the same code for a token
whose user has not been granted access; ``huggingface_hub`` raises ``GatedRepoError`` for both.

Run it from tests with :func:`running` (a context manager returning the endpoint URL) or as
``python -m tests.fakehub PORT`` by hand.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, unquote, urlparse


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """The in-memory repositories: ``{(type, repo_id): [commits]}``, each commit ``(oid, {path: bytes})``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.repos: dict[tuple[str, str], list[tuple[str, dict[str, bytes]]]] = {}
        self.stats = {"commits": 0, "conflicts": 0}
        self.authorizations: set[str] = set()
        self.validated: list[tuple[str, str]] = []  # (repoType, README content) seen by /api/validate-yaml
        self.users: dict[str, str] = {}  # token -> user name (/api/whoami-v2)
        self.gated: dict[tuple[str, str], set[str]] = {}  # gated repo -> user names granted access
        self.refused: list[tuple[str, str, int]] = []  # (repo_id, path, status) of every refused request

    def add_user(self, name: str, token: str) -> None:
        self.users[token] = name

    def gate(self, repo_type: str, repo_id: str, granted: tuple[str, ...] = ()) -> None:
        """Make a repo gated; only ``granted`` users (by name) may read it."""
        self.gated[(repo_type, repo_id)] = set(granted)

    def access(self, repo_type: str, repo_id: str, authorization: str | None) -> int | None:
        """None if the request may read the repo, else the status the Hub answers (401/403)."""
        granted = self.gated.get((repo_type, repo_id))
        if granted is None:
            return None
        if not authorization:
            return 401
        user = self.users.get(authorization.removeprefix("Bearer ").strip())
        return None if user in granted else 403

    def put_files(self, repo_type: str, repo_id: str, files: dict[str, bytes]) -> str:
        """Create the repo if needed and commit ``files`` to it; returns the commit oid."""
        self.create(repo_type, repo_id)
        result = self.commit(repo_type, repo_id, {}, files, [])
        assert isinstance(result, str)
        return result

    def validate_yaml(self, repo_type: str, content: str) -> list[str]:
        """The Hub's front-matter check, in part: errors if the YAML between ``---`` lines is not a mapping."""
        import yaml

        self.validated.append((repo_type, content))
        if not content.startswith("---\n"):
            return []
        front = content[4:].split("\n---", 1)[0]
        try:
            data = yaml.safe_load(front)
        except yaml.YAMLError as err:
            return [f"Invalid YAML: {err}"]
        return [] if data is None or isinstance(data, dict) else ["The metadata must be a YAML mapping"]

    def create(self, repo_type: str, repo_id: str) -> bool:
        with self.lock:
            key = (repo_type, repo_id)
            if key in self.repos:
                return False
            files = {".gitattributes": b"*.bin filter=lfs diff=lfs merge=lfs -text\n"}
            self.repos[key] = [(self._oid(repo_id, files, None), files)]
            return True

    @staticmethod
    def _oid(repo_id: str, files: dict[str, bytes], parent: str | None) -> str:
        digest = hashlib.sha1(f"{repo_id}|{parent}|{time.time_ns()}".encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + _git_blob_id(files[path]).encode())
        return digest.hexdigest()

    def commit_at(self, repo_type: str, repo_id: str, revision: str) -> tuple[str, dict[str, bytes]] | None:
        commits = self.repos.get((repo_type, repo_id))
        if not commits:
            return None
        if revision in ("main", "HEAD"):
            return commits[-1]
        return next((c for c in commits if c[0] == revision), None)

    def commit(self, repo_type: str, repo_id: str, header: dict, adds: dict[str, bytes], deletes: list[str]) -> str | int:
        """Apply a commit; returns the new oid, or 412 if ``parentCommit`` is not the head."""
        with self.lock:
            commits = self.repos[(repo_type, repo_id)]
            head_oid, head_files = commits[-1]
            parent = header.get("parentCommit")
            if parent is not None and parent != head_oid:
                self.stats["conflicts"] += 1
                return 412
            files = dict(head_files)
            for path in deletes:
                files.pop(path, None)
            files.update(adds)
            oid = self._oid(repo_id, files, head_oid)
            commits.append((oid, files))
            self.stats["commits"] += 1
            return oid


def _make_handler(hub: FakeHub, endpoint_ref: list[str]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # quiet: tests read their own logs
            pass

        # --- helpers ---------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                  content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), headers)

        def _error(self, status: int, message: str, code: str | None = None) -> None:
            self._json(status, {"error": message}, {"X-Error-Code": code} if code else None)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _note_auth(self) -> None:
            auth = self.headers.get("Authorization")
            if auth:
                hub.authorizations.add(auth)

        def _refused(self, repo_type: str, repo_id: str, path: str = "") -> bool:
            """Answer 401/403 GatedRepo (and return True) if the caller may not read this gated repo."""
            status = hub.access(repo_type, repo_id, self.headers.get("Authorization"))
            if status is None:
                return False
            hub.refused.append((repo_id, path, status))
            message = (f"Access to {repo_type} {repo_id} is restricted. You must have access to it and be authenticated "
                       "to access it. Please log in." if status == 401 else
                       f"Access to {repo_type} {repo_id} is restricted and you are not in the authorized list.")
            self._error(status, message, "GatedRepo")
            return True

        # --- routes ----------------------------------------------------------------------
        def do_POST(self) -> None:
            self._note_auth()
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            body = self._body()
            if parts[:3] == ["api", "repos", "create"]:
                payload = json.loads(body or b"{}")
                repo_type = payload.get("type") or "model"
                repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
                if "/" not in repo_id:
                    repo_id = f"user/{repo_id}"
                created = hub.create(repo_type, repo_id)
                url_ = f"{endpoint_ref[0]}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
                return self._json(200 if created else 409, {"url": url_, "name": repo_id} if created
                                  else {"error": "You already created this repo", "url": url_})
            if parts == ["api", "validate-yaml"]:
                payload = json.loads(body or b"{}")
                errors = hub.validate_yaml(payload.get("repoType", "model"), payload.get("content", ""))
                return self._json(400 if errors else 200, {"errors": [{"message": e} for e in errors], "warnings": []})
            if len(parts) >= 6 and parts[0] == "api" and parts[4] in ("preupload", "commit"):
                repo_type, repo_id, action = parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[4]
                if hub.commit_at(repo_type, repo_id, "main") is None:
                    return self._error(404, "Repository not found", "RepoNotFound")
                if action == "preupload":
                    files = json.loads(body).get("files", [])
                    return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                       "shouldIgnore": False} for f in files],
                                            "commitOid": hub.commit_at(repo_type, repo_id, "main")[0]})
                header, adds, deletes = {}, {}, []
                for line in body.decode("utf-8").splitlines():
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    value = item["value"]
                    if item["key"] == "header":
                        header = value
                    elif item["key"] == "file":
                        adds[value["path"]] = base64.b64decode(value["content"])
                    elif item["key"] in ("deletedFile", "deletedFolder"):
                        deletes.append(value["path"])
                    else:
                        return self._error(400, f"unsupported commit operation {item['key']}")
                result = hub.commit(repo_type, repo_id, header, adds, deletes)
                if result == 412:
                    return self._error(412, "A commit has happened since. Please refresh and try again.")
                prefix = "" if repo_type == "model" else f"{repo_type}s/"
                return self._json(200, {"success": True, "commitOid": result,
                                        "commitUrl": f"{endpoint_ref[0]}/{prefix}{repo_id}/commit/{result}"})
            return self._error(404, f"no route for POST {url.path}")

        def do_GET(self) -> None:
            self._note_auth()
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts == ["api", "whoami-v2"]:
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
                if token not in hub.users:
                    return self._json(401, {"error": "Invalid credentials in Authorization header"},
                                      {"X-Error-Message": "Invalid credentials in Authorization header"})
                return self._json(200, {"type": "user", "name": hub.users[token], "auth": {"type": "access_token"}})
            if len(parts) >= 6 and parts[0] == "api" and parts[1] in ("models", "datasets", "spaces") \
                    and parts[4] == "tree":
                repo_type, repo_id, revision = parts[1][:-1], f"{parts[2]}/{parts[3]}", parts[5]
                if self._refused(repo_type, repo_id):
                    return
                found = hub.commit_at(repo_type, repo_id, revision)
                if found is None:
                    return self._error(404, "Repository or revision not found", "RevisionNotFound")
                return self._json(200, [{"type": "file", "path": p, "size": len(d), "oid": _git_blob_id(d)}
                                        for p, d in sorted(found[1].items())])
            if len(parts) >= 4 and parts[0] == "api" and parts[1] in ("models", "datasets", "spaces"):
                repo_type, repo_id = parts[1][:-1], f"{parts[2]}/{parts[3]}"
                revision = "/".join(parts[5:]) if len(parts) > 5 and parts[4] == "revision" else "main"
                if self._refused(repo_type, repo_id):
                    return
                found = hub.commit_at(repo_type, repo_id, revision)
                if found is None and hub.commit_at(repo_type, repo_id, "main") is not None:
                    return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
                if found is None:
                    return self._error(404, "Repository not found", "RepoNotFound")
                oid, files = found
                blobs = parse_qs(url.query).get("blobs", ["false"])[0].lower() == "true"
                siblings = [{"rfilename": p, **({"blobId": _git_blob_id(d), "size": len(d)} if blobs else {})}
                            for p, d in sorted(files.items())]
                return self._json(200, {"id": repo_id, "sha": oid, "private": True, "siblings": siblings})
            return self._resolve()

        def do_HEAD(self) -> None:
            self._resolve()

        def _resolve(self) -> None:
            url = urlparse(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts and parts[0] in ("datasets", "spaces"):
                repo_type, parts = parts[0][:-1], parts[1:]
            else:
                repo_type = "model"
            if len(parts) < 5 or parts[2] != "resolve":
                return self._error(404, f"no route for {self.command} {url.path}")
            repo_id, revision, path = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
            if self._refused(repo_type, repo_id, path):
                return
            found = hub.commit_at(repo_type, repo_id, revision)
            if found is None:
                return self._error(404, "Repository or revision not found", "RevisionNotFound")
            oid, files = found
            if path not in files:
                return self._error(404, "Entry not found", "EntryNotFound")
            data = files[path]
            self._send(200, data, {"X-Repo-Commit": oid, "ETag": f'"{_git_blob_id(data)}"'},
                       content_type="application/octet-stream")

    return Handler


@contextmanager
def running(host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[str, FakeHub]]:
    """Serve a fresh fake Hub in a thread; yields ``(endpoint, hub)``."""
    hub = FakeHub()
    endpoint_ref = [""]
    server = ThreadingHTTPServer((host, port), _make_handler(hub, endpoint_ref))
    server.daemon_threads = True
    endpoint_ref[0] = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint_ref[0], hub
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    with running(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0) as (endpoint, _):
        print(endpoint, flush=True)
        threading.Event().wait()
