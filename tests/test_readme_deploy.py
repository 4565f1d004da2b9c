"""Every command in the README's "Deploy" section, run as written (paths, hosts and ports
swapped for a temp folder, free ports and the test database)."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path


from support import free_port, wait_http

README = Path(__file__).resolve().parent.parent / "README.md"


def deploy_commands() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip()]


def test_the_section_has_the_commands_the_issue_asks_for():
    commands = " ".join(deploy_commands())
    for needed in ("parkmap serve", "parkmap deploy nginx", "parkmap deploy assets",
                   "parkmap db init", "parkmap db load", "parkmap db dump-drafts",
                   "parkmap db load-drafts", "PARKMAP_DATABASE_URL", "PARKMAP_TRUSTED_PROXIES"):
        assert needed in commands, needed


def test_every_deploy_command_runs(built, pg_db, tmp_path):
    from webapp.intake import read_draft
    from webapp.stores.drafts import DraftStore

    app_port = free_port()
    swaps = {"/var/lib/parkmap/assets": str(tmp_path / "assets"),
             "/etc/nginx/conf.d/parkmap.conf": str(tmp_path / "parkmap.conf"),
             "/var/cache/nginx/parkmap": str(tmp_path / "cache"),
             "127.0.0.1:8000": f"127.0.0.1:{app_port}", "--port 8000": f"--port {app_port}",
             "--host 0.0.0.0": "--host 127.0.0.1", "instance/drafts": str(tmp_path / "drafts")}
    env = {**os.environ, "PARKMAP_LAYERS_DIR": str(built),
           "PARKMAP_INSTANCE_DIR": str(tmp_path / "instance")}
    drafts = DraftStore(tmp_path / "drafts")  # a file store to move into the database
    square = (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
              b'"geometry": {"type": "Point", "coordinates": [121.42, 31.21]}}]}')
    drafts.save(*read_draft(square), name="moved")
    ran = []
    for line in deploy_commands():
        for old, new in swaps.items():
            line = line.replace(old, new)
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = pg_db if key == "PARKMAP_DATABASE_URL" else value
            continue
        words = shlex.split(line)
        extra = {}
        while "=" in words[0]:
            key, _, value = words.pop(0).partition("=")
            extra[key] = value
        assert words[0] == "parkmap", line
        argv = [sys.executable, "-m", "webapp.cli", *words[1:]]
        if words[1] == "serve":
            proc = subprocess.Popen(argv, env={**env, **extra}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                wait_http(f"http://127.0.0.1:{app_port}/healthz")
            finally:
                proc.terminate()
                assert proc.wait(40) == 0, line
        else:
            done = subprocess.run(argv, env={**env, **extra}, capture_output=True, text=True)
            assert done.returncode == 0, (line, done.stderr)
        ran.append(words[1:3])
    assert ["deploy", "nginx"] in ran and ["db", "load-drafts"] in ran and ["serve"] in [
        r[:1] for r in ran]
    assert "server 127.0.0.1:%d;" % app_port in (tmp_path / "parkmap.conf").read_text()
