"""A local HTTP server speaking the part of the Hub API that ``huggingface_hub`` uses for small files.

Endpoints (checked with huggingface_hub 2.4, DESIGN.md §5): repo creation, repo info with
``sha`` and ``siblings`` (with ``blobId`` when ``?blobs=true``), preupload, the NDJSON commit
(``parentCommit`` on a stale sha answers 412, as the Hub does), ``resolve`` HEAD/GET with
``X-Repo-Commit`` and ``ETag``, and ``/api/validate-yaml``, which ``upload_folder`` calls for a
``README.md`` (400 with ``errors`` when its front matter is not a YAML mapping). Commits are kept in memory with their full history, so a
download at an old commit returns that commit's file.

For deploys (``rexrank space deploy``, the evaluate module Spaces): the repo tree
(``list_repo_files``, used by ``upload_folder(delete_patterns=...)``), a Space's secrets and
variables (``add_space_secret`` / ``add_space_variable``; secret values are kept for the test to
compare, never returned, as on the Hub), and repo visibility from the create call. Every upload
is answered ``uploadMode: "regular"``: the real Hub sends binary files (a wheel) through LFS/Xet,
which huggingface_hub handles and this fake does not implement.

For evaluation results: ``GET /api/models/{id}?expand=evalResults``, the API form of the model
repo's ``.eval_results/*.yaml`` entries (the dataset leaderboard is computed by the Hub in ways it
does not document, so it is not faked). A commit adding an
``eval.yaml`` is checked against the documented specification, and refused (400) when
``hub.eval_frameworks`` is set and its ``evaluation_framework`` is not in it.

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
        self.private: dict[tuple[str, str], bool] = {}
        self.space_secrets: dict[str, dict[str, str]] = {}  # space id -> {key: value} (values never served)
        self.space_variables: dict[str, dict[str, str]] = {}
        self.eval_frameworks: set[str] | None = None  # None: accept any evaluation_framework
        self.users: dict[str, str] = {}  # token -> user name (/api/whoami-v2)
        self.gated: dict[tuple[str, str], set[str]] = {}  # gated repo -> user names granted access
        self.refused: list[tuple[str, str, int]] = []  # (repo_id, path, status) of every refused request

    def check_eval_yaml(self, data: bytes) -> list[str]:
        """The documented eval.yaml fields (hub-docs eval-results.md): name, description, one
        evaluation_framework, tasks[] with a unique id and optional config/split."""
        import yaml

        try:
            spec = yaml.safe_load(data)
        except yaml.YAMLError as err:
            return [f"eval.yaml: invalid YAML: {err}"]
        if not isinstance(spec, dict):
            return ["eval.yaml: must be a mapping"]
        errors = [f"eval.yaml: missing {k}" for k in ("name", "description", "evaluation_framework", "tasks")
                  if not spec.get(k)]
        framework = spec.get("evaluation_framework")
        if framework and not isinstance(framework, str):
            errors.append("eval.yaml: exactly one evaluation_framework (a string)")
        elif framework and self.eval_frameworks is not None and framework not in self.eval_frameworks:
            errors.append(f"eval.yaml: unknown evaluation_framework {framework!r}")
        ids = [task.get("id") for task in spec.get("tasks") or [] if isinstance(task, dict)]
        if len(ids) != len(spec.get("tasks") or []) or not all(isinstance(i, str) and i for i in ids):
            errors.append("eval.yaml: every task needs an id")
        if len(set(ids)) != len(ids):
            errors.append("eval.yaml: task ids must be unique")
        return errors

    def files(self, repo_type: str, repo_id: str) -> dict[str, bytes]:
        found = self.commit_at(repo_type, repo_id, "main")
        return found[1] if found else {}

    def eval_results(self, model_id: str) -> list[dict]:
        """The API form of a model's ``.eval_results/*.yaml`` entries."""
        import yaml

        out = []
        for path, data in sorted(self.files("model", model_id).items()):
            if path.startswith(".eval_results/") and path.endswith(".yaml"):
                out += [{"filename": path, "verified": False, "data": item} for item in yaml.safe_load(data) or []]
        return out

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

    def create(self, repo_type: str, repo_id: str, private: bool = True) -> bool:
        with self.lock:
            key = (repo_type, repo_id)
            if key in self.repos:
                return False
            self.private[key] = private
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

    def commit(self, repo_type: str, repo_id: str, header: dict, adds: dict[str, bytes],
               deletes: list[str]) -> str | int | list[str]:
        """Apply a commit; returns the new oid, 412 if ``parentCommit`` is not the head, or the errors
        that refuse it (an invalid ``eval.yaml`` at a dataset's root)."""
        if repo_type == "dataset" and "eval.yaml" in adds:
            errors = self.check_eval_yaml(adds["eval.yaml"])
            if errors:
                return errors
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
                private = payload.get("visibility", "private" if payload.get("private") else "public") != "public"
                created = hub.create(repo_type, repo_id, private)
                if created and repo_type == "space":
                    hub.space_secrets[repo_id] = {s["key"]: s["value"] for s in payload.get("secrets") or []}
                    hub.space_variables[repo_id] = {v["key"]: v["value"] for v in payload.get("variables") or []}
                url_ = f"{endpoint_ref[0]}/{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
                return self._json(200 if created else 409, {"url": url_, "name": repo_id} if created
                                  else {"error": "You already created this repo", "url": url_})
            if len(parts) == 5 and parts[:2] == ["api", "spaces"] and parts[4] in ("secrets", "variables"):
                return self._space_settings(f"{parts[2]}/{parts[3]}", parts[4], json.loads(body or b"{}"))
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
                if isinstance(result, list):
                    return self._error(400, "; ".join(result))
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
            query = parse_qs(url.query)
            if len(parts) == 5 and parts[:2] == ["api", "spaces"] and parts[4] in ("secrets", "variables"):
                return self._space_settings(f"{parts[2]}/{parts[3]}", parts[4], None)
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
                if found is None and hub.commit_at(repo_type, repo_id, "main") is None:
                    return self._error(404, "Repository not found", "RepoNotFound")
                if found is None:
                    return self._error(404, "Repository or revision not found", "RevisionNotFound")
                prefix = "/".join(parts[6:])
                return self._json(200, [{"type": "file", "path": p, "size": len(d), "oid": _git_blob_id(d)}
                                        for p, d in sorted(found[1].items()) if p.startswith(prefix)])
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
                info = {"id": repo_id, "sha": oid, "private": hub.private.get((repo_type, repo_id), True),
                        "siblings": siblings}
                if repo_type == "model" and "evalResults" in ",".join(query.get("expand", [])):
                    info["evalResults"] = hub.eval_results(repo_id)
                return self._json(200, info)
            return self._resolve()

        def do_HEAD(self) -> None:
            self._resolve()

        def do_DELETE(self) -> None:
            self._note_auth()
            parts = [unquote(p) for p in urlparse(self.path).path.strip("/").split("/")]
            body = json.loads(self._body() or b"{}")
            if len(parts) == 5 and parts[:2] == ["api", "spaces"] and parts[4] in ("secrets", "variables"):
                return self._space_settings(f"{parts[2]}/{parts[3]}", parts[4], body, delete=True)
            return self._error(404, f"no route for DELETE {self.path}")

        def _space_settings(self, space_id: str, kind: str, payload: dict | None, delete: bool = False) -> None:
            """A Space's secrets or variables: POST adds, DELETE removes, GET lists (secret values never)."""
            if hub.commit_at("space", space_id, "main") is None:
                return self._error(404, "Repository not found", "RepoNotFound")
            store = (hub.space_secrets if kind == "secrets" else hub.space_variables).setdefault(space_id, {})
            if payload is not None:
                if delete:
                    store.pop(payload.get("key"), None)
                else:
                    store[payload["key"]] = payload["value"]
            if kind == "secrets":
                return self._json(200, {k: {"updatedAt": "2026-01-01T00:00:00.000Z"} for k in store})
            return self._json(200, {k: {"value": v, "updatedAt": "2026-01-01T00:00:00.000Z"} for k, v in store.items()})

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
