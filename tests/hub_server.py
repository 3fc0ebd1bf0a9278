"""A loopback stand-in for the Hugging Face Hub: the endpoints huggingface_hub 2.x calls to publish and download a
model repo, with injectable faults (HTTP 500s, truncated bodies, tampered bytes).

Uploads are answered with uploadMode "regular", so file contents arrive base64-encoded inside the commit NDJSON (no
LFS, no Xet). Every response closes its connection, so a stopped server leaves no pooled connection behind.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

API = re.compile(r"^/api/models/(?P<repo>[^/]+(?:/[^/]+)?)(?:/(?P<op>preupload|commit|revision|paths-info)/(?P<rev>[^/]+))?$")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob, which the Hub serves as the ETag of a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Faults:
    """Failures to inject: each counter is spent one request at a time, so a test bounds every retry loop."""

    errors: int = 0  # answer the next N requests with HTTP 500
    truncate: int = 0  # send half of the next N file bodies, then close the connection
    tamper: set[str] = field(default_factory=set)  # serve these files with one byte flipped


@dataclass
class Repo:
    """A model repo: commits (oid -> files) and branches (name -> oid)."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)


class HubError(Exception):
    """An error answer: status, X-Error-Code and message."""

    def __init__(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


class HubServer:
    """The fake Hub, serving on 127.0.0.1 at a free port in a thread while used as a context manager."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        self.errors_sent = 0
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint, e.g. http://127.0.0.1:40123 (for HF_ENDPOINT)."""
        assert self._httpd is not None, "server is not running"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def head(self, repo_id: str, branch: str = "main") -> str:
        """The commit oid a branch points to."""
        return self.repos[repo_id].branches[branch]

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of a repo at a branch or commit."""
        with self.lock:
            return self.lookup(repo_id, revision)[1]

    def take(self, fault: str) -> bool:
        """Spend one unit of a counted fault; True when it fires."""
        with self.lock:
            left = getattr(self.faults, fault)
            if left > 0:
                setattr(self.faults, fault, left - 1)
            return left > 0

    def _repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_id}")
        return self.repos[repo_id]

    def lookup(self, repo_id: str, revision: str) -> tuple[str, dict[str, bytes]]:
        """(commit oid, files) of a branch or commit; RepoNotFound / RevisionNotFound otherwise."""
        repo = self._repo(repo_id)
        oid = repo.branches.get(revision, revision)
        if oid not in repo.commits:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return oid, repo.commits[oid]

    def _commit(self, repo_id: str, branch: str, files: dict[str, bytes], summary: str) -> str:
        repo = self.repos[repo_id]
        parent = repo.branches.get(branch, "")
        listing = "\n".join(f"{p} {git_blob_sha1(b)}" for p, b in sorted(files.items()))
        oid = hashlib.sha1(f"{parent}\n{len(repo.commits)}\n{summary}\n{listing}".encode()).hexdigest()
        repo.commits[oid] = dict(files)
        repo.branches[branch] = oid
        return oid

    def create_repo(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /api/repos/create: a repo with one commit holding .gitattributes; 409 when it exists."""
        if body.get("type", "model") != "model":
            raise HubError(400, None, "only model repos are served here")
        repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
        with self.lock:
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo_id}"}
            self.repos[repo_id] = Repo()
            self._commit(repo_id, "main", {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
                         "initial commit")
        return 200, {"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id}

    def preupload(self, repo_id: str, revision: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/models/{repo}/preupload/{rev}: every file regular, with the remote blob oid when it exists."""
        with self.lock:
            repo = self._repo(repo_id)
            current = repo.commits[repo.branches[revision]] if revision in repo.branches else {}
        return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                           "oid": git_blob_sha1(current[f["path"]]) if f["path"] in current else None}
                          for f in body["files"]]}

    def commit(self, repo_id: str, revision: str, ndjson: bytes) -> dict[str, Any]:
        """POST /api/models/{repo}/commit/{rev}: apply the NDJSON header, file and deletedFile lines; new commit."""
        lines = [json.loads(line) for line in ndjson.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, None, "commit payload must start with a header line")
        with self.lock:
            repo = self._repo(repo_id)
            if revision not in repo.branches:
                raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            parent = lines[0]["value"].get("parentCommit")
            if parent is not None and parent != repo.branches[revision]:
                raise HubError(412, None, f"parent commit {parent} is not the head of {revision}")
            files = dict(repo.commits[repo.branches[revision]])
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                if key == "file" and value.get("encoding") == "base64":
                    files[value["path"]] = base64.b64decode(value["content"], validate=True)
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                else:
                    raise HubError(400, None, f"unsupported commit operation {key!r} (this server takes regular files)")
            oid = self._commit(repo_id, revision, files, lines[0]["value"].get("summary", ""))
        return {"success": True, "commitOid": oid, "commitUrl": f"{self.url}/{repo_id}/commit/{oid}"}

    def paths_info(self, repo_id: str, revision: str, paths: list[str]) -> list[dict[str, Any]]:
        """POST /api/models/{repo}/paths-info/{rev}: each existing file's size and git blob id, and for files that
        .gitattributes sends to LFS (as the Hub stores *.safetensors) the LFS object: its sha256 and size."""
        import fnmatch

        with self.lock:
            _, files = self.lookup(repo_id, revision)
        lfs = [line.split()[0] for line in files.get(".gitattributes", b"").decode().splitlines()
               if "filter=lfs" in line.split()[1:]]
        out = []
        for path in paths:
            if path in files:
                data = files[path]
                info: dict[str, Any] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
                if any(fnmatch.fnmatch(path, pattern) for pattern in lfs):
                    info["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                out.append(info)
        return out

    def repo_info(self, repo_id: str, revision: str) -> dict[str, Any]:
        """GET /api/models/{repo}[/revision/{rev}]: id, sha and siblings."""
        with self.lock:
            oid, files = self.lookup(repo_id, revision)
        return {"id": repo_id, "modelId": repo_id, "sha": oid, "private": False,
                "siblings": [{"rfilename": name} for name in sorted(files)]}


def _yaml_errors(content: str) -> list[dict[str, str]]:
    """What POST /api/validate-yaml objects to in a README: front matter that is not a YAML mapping."""
    if not content.startswith("---"):
        return []
    head = content.split("\n---", 1)[0].removeprefix("---")
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError as e:
        return [{"message": f"invalid YAML front matter: {e}"}]
    return [] if meta is None or isinstance(meta, dict) else [{"message": "front matter is not a mapping"}]


class _Handler(BaseHTTPRequestHandler):
    """Routes one request to the HubServer; answers errors with X-Error-Code like the Hub."""

    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `hub.requests` instead."""

    def do_HEAD(self) -> None:
        self._handle(body=False)

    def do_GET(self) -> None:
        self._handle(body=True)

    def do_POST(self) -> None:
        self._handle(body=True)

    def _handle(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.hub.lock:
            self.hub.requests.append((self.command, path))
        payload = self._read_body() if self.command == "POST" else b""
        if self.hub.take("errors"):
            with self.hub.lock:
                self.hub.errors_sent += 1
            return self._json(500, {"error": "Internal Error - injected fault"}, body=body)
        try:
            if self.command == "POST":
                self._post(path, payload)
            elif "/resolve/" in path:
                self._resolve(path, body)
            else:
                self._get(path)
        except HubError as e:
            headers = {"X-Error-Message": e.message} | ({"X-Error-Code": e.code} if e.code else {})
            self._json(e.status, {"error": e.message}, headers | ({"X-Repo-Commit": e.commit} if e.commit else {}),
                       body=body)

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise HubError(411, None, "Content-Length required")
        return self.rfile.read(int(length))

    def _check_token(self) -> None:
        if self.hub.token is not None and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            raise HubError(401, None, "Invalid credentials in Authorization header")

    def _post(self, path: str, payload: bytes) -> None:
        if path == "/api/validate-yaml":
            errors = _yaml_errors(json.loads(payload)["content"])
            return self._json(400 if errors else 200, {"errors": errors, "warnings": []})
        self._check_token()
        if path == "/api/repos/create":
            return self._json(*self.hub.create_repo(json.loads(payload)))
        m = API.match(path)
        if m and m["op"] == "preupload":
            return self._json(200, self.hub.preupload(m["repo"], m["rev"], json.loads(payload)))
        if m and m["op"] == "commit":
            return self._json(200, self.hub.commit(m["repo"], m["rev"], payload))
        if m and m["op"] == "paths-info":
            form = parse_qs(payload.decode())
            return self._json(200, self.hub.paths_info(m["repo"], m["rev"], form.get("paths", [])))
        raise HubError(404, None, f"no such endpoint: POST {path}")

    def _get(self, path: str) -> None:
        if path == "/api/agent-harnesses":  # huggingface_hub's best-effort agent detection
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})
        m = API.match(path)
        if not m or m["op"] not in (None, "revision"):
            raise HubError(404, None, f"no such endpoint: GET {path}")
        self._json(200, self.hub.repo_info(m["repo"], m["rev"] or "main"))

    def _resolve(self, path: str, body: bool) -> None:
        """HEAD/GET /{repo}/resolve/{rev}/{file}: X-Repo-Commit, ETag (git blob oid), Content-Length, ranges."""
        repo_id, _, rest = path.lstrip("/").partition("/resolve/")
        revision, _, filename = rest.partition("/")
        with self.hub.lock:
            oid, files = self.hub.lookup(repo_id, revision)
        if filename not in files:
            raise HubError(404, "EntryNotFound", f"{filename} does not exist at {revision}", commit=oid)
        data = files[filename]
        etag = git_blob_sha1(data)
        if filename in self.hub.faults.tamper:
            data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
        status, start = 200, 0
        headers = {"X-Repo-Commit": oid, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if m and int(m[1]) < len(data):
            status, start = 206, int(m[1])
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        chunk = data[start:]
        truncated = body and self.hub.take("truncate")
        self._send(status, headers | {"Content-Length": str(len(chunk))},
                   (chunk[: len(chunk) // 2] if truncated else chunk) if body else b"")

    def _json(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None, body: bool = True) -> None:
        data = json.dumps(obj).encode()
        self._send(status, {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})},
                   data if body else b"")

    def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for k, v in {**headers, "Connection": "close"}.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True
