#!/usr/bin/env python3
"""clawnet chat's session files and their identity record (docs/engine.md, Chat sessions), on a
random checkpoint with DeepSeek's real vocabulary made at test time:

- /save records the model, --act, --kv-type and --kv-index-type (read back here with Python's json);
- /load under other settings is refused with each differing field named (saved value, current
  value, flag to pass), and the chat goes on with its own conversation: its answers equal those of a
  run that never tried the /load;
- /load under the same settings continues exactly as an uninterrupted run (greedy: the answers are
  compared byte for byte), under the defaults and under exact f32;
- a format 01 file (the same file without the identity record, and a real one written before the
  record existed) loads, with a note, only when its KV row types fit;
- damaged files: truncated, bytes flipped, lengths huge, the identity record damaged, each with a
  valid checksum recomputed here so the parser itself is exercised; every one is refused with a
  message and the session goes on unchanged (the ASan build runs this test too).

Usage: test_cli_chat_session.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_vocab  # noqa: E402

CLAWNET = sys.argv[1]
N = 8
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def chat(model, lines, *args):
    return subprocess.run([CLAWNET, "chat", "-m", model, "-t", "2", "-n", str(N), *args], capture_output=True,
                          text=True, timeout=600, input="".join(line + "\n" for line in lines))


def fnv1a(data):
    """FNV-1a 64 (the published offset basis and prime), the session file's checksum."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def sections(data):
    """The session file's parts as the format in src/cli/chat_session.h lays them out."""
    assert data[:8] == b"CNCHAT02", data[:8]
    at, out = 8, {}
    for name, unit in [("identity", 1), ("messages", 1), ("ids", 4)]:
        (n,) = struct.unpack_from("<Q", data, at)
        out[name + "_at"] = at
        out[name] = data[at + 8:at + 8 + n * unit]
        at += 8 + n * unit
    out["rng_at"] = at
    at += 8
    (n,) = struct.unpack_from("<Q", data, at)
    out["kv_at"] = at
    out["kv"] = data[at + 8:at + 8 + n]
    at += 8 + n
    assert at + 8 == len(data) and struct.unpack_from("<Q", data, at)[0] == fnv1a(data[:at])
    return out


def seal(body):
    """body followed by its checksum: a file that passes the checksum, so the parser must judge it."""
    return body + struct.pack("<Q", fnv1a(body))


def load_replies(stderr):
    """One entry per /load: the "[loaded" line or the error."""
    return [line for line in stderr.splitlines() if line.startswith("[loaded") or line.startswith("clawnet chat:")
            and " note: " not in line]


F32 = ["--act", "f32", "--kv-type", "f32"]

with tempfile.TemporaryDirectory() as tmp:
    model = real_vocab.make_checkpoint(os.path.join(tmp, "model"))
    session = os.path.join(tmp, "session.bin")

    # 1. A matching /load continues exactly as the uninterrupted run, under the defaults (q8, fp8)
    # and under f32; the identity record says what produced the file.
    saved = {}
    for name, args, want_identity in [
        ("defaults", [], {"model": model, "act": "q8", "kv_type": "fp8", "kv_index_type": "fp8"}),
        ("f32", F32, {"model": model, "act": "f32", "kv_type": "f32", "kv_index_type": "f32"}),
    ]:
        path = os.path.join(tmp, f"{name}.bin")
        whole = chat(model, ["Hello there", "How are you?"], *args)
        first = chat(model, ["Hello there", "/save " + path], *args)
        second = chat(model, ["/load " + path, "How are you?"], *args)
        check(whole.returncode == 0 and first.returncode == 0 and second.returncode == 0,
              f"{name}: {whole.stderr!r} {first.stderr!r} {second.stderr!r}")
        check("[loaded" in second.stderr and "note:" not in second.stderr, f"{name}: /load: {second.stderr!r}")
        check(whole.stdout == first.stdout + second.stdout and second.stdout,
              f"{name}: save/load {first.stdout!r} + {second.stdout!r} != uninterrupted {whole.stdout!r}")
        data = open(path, "rb").read()
        identity = json.loads(sections(data)["identity"])
        check(identity == want_identity, f"{name}: identity record {identity} != {want_identity}")
        saved[name] = (path, data, whole, first)

    # 2. /load under other settings: refused, each differing field named with both values and its
    # flag; the chat keeps its own conversation (turn 2 answers as a run without the /load did).
    f32_path = saved["f32"][0]
    link = os.path.join(tmp, "model-link")
    os.symlink(model, link)
    for args, differing in [
        ([], [("--act", "f32", "q8"), ("--kv-type", "f32", "fp8"), ("--kv-index-type", "f32", "fp8")]),
        (["--act", "f32"], [("--kv-type", "f32", "fp8"), ("--kv-index-type", "f32", "fp8")]),
        (["--kv-type", "f32"], [("--act", "f32", "q8")]),
        (F32 + ["--kv-index-type", "bf16"], [("--kv-index-type", "f32", "bf16")]),
        (F32 + ["-m", link], [("-m", model, link)]),
    ]:
        run_model = args[-1] if "-m" in args else model
        args = [a for a in args if a not in ("-m", link)]
        plain = chat(run_model, ["Hello there", "How are you?"], *args)
        r = chat(run_model, ["Hello there", "/load " + f32_path, "How are you?"], *args)
        errors = [line for line in r.stderr.splitlines() if line.startswith("clawnet chat:")]
        check(r.returncode == 0 and len(errors) == 1, f"{args}: one /load error: {r.stderr!r}")
        msg = errors[0] if errors else ""
        for flag, was, now in differing:
            check(f"session was saved with {flag} {was}; this chat runs {now}" in msg, f"{args}: {flag} not named: {msg!r}")
        want_flags = "restart chat with" + "".join(f" {flag} {was}" for flag, was, _ in differing)
        check(want_flags in msg, f"{args}: expected {want_flags!r} in {msg!r}")
        check("nothing loaded" in msg and msg.count("session was saved with") == len(differing),
              f"{args}: only the differing fields: {msg!r}")
        check(r.stdout == plain.stdout and r.stdout.count("\n") == 2,
              f"{args}: the conversation goes on as without the /load: {r.stdout!r} != {plain.stdout!r}")

    # 3. Format 01 (no identity record): loaded when the KV row types fit, with a note that the model
    # and --act were not checked; refused with the stored row type named when they do not.
    path, data, whole, first = saved["f32"]
    s = sections(data)
    old = os.path.join(tmp, "format01.bin")
    with open(old, "wb") as f:
        f.write(seal(b"CNCHAT01" + data[s["messages_at"]:-8]))
    r = chat(model, ["/load " + old, "How are you?"], *F32)
    check(r.returncode == 0 and "[loaded" in r.stderr and "predates identity records" in r.stderr
          and "not checked" in r.stderr, f"format 01, same KV types: {r.stderr!r}")
    check(first.stdout + r.stdout == whole.stdout, f"format 01: continues as uninterrupted: {r.stdout!r}")
    plain = chat(model, ["Hello there", "How are you?"], "--act", "f32")
    r = chat(model, ["Hello there", "/load " + old, "How are you?"], "--act", "f32")
    check(r.returncode == 0 and "[loaded" not in r.stderr and "predates identity records" in r.stderr
          and "f32" in r.stderr and "--kv-type" in r.stderr, f"format 01, other KV types: {r.stderr!r}")
    check(r.stdout == plain.stdout, "format 01 refused: the conversation goes on")

    # A real format 01 file, written by `clawnet chat -m models/hk-tiny/hk-tiny.gguf` (defaults: q8, fp8)
    # before the identity record existed (tests/fixtures/chat_session_v01/README.md): it loads under
    # the same KV types with the note, and the next turn reuses its state (prefills only the new
    # tokens); under f32 rows it is refused with the stored type named.
    hk, fixture = "models/hk-tiny/hk-tiny.gguf", "tests/fixtures/chat_session_v01/hk_tiny_defaults.bin"
    r = chat(hk, ["/load " + fixture, "How are you?"])
    turn = [line for line in r.stderr.splitlines() if line.startswith("[prompt: ")]
    check(r.returncode == 0 and "[loaded " + fixture + ": 2 messages, 14 tokens]" in r.stderr
          and "predates identity records" in r.stderr and len(turn) == 1 and r.stdout.strip(),
          f"format 01 fixture: {r.stderr!r}")
    if turn:
        words = turn[0].split()
        check(int(words[1]) - int(words[3].lstrip("(")) == 14, f"format 01 fixture: state reused: {turn[0]!r}")
    r = chat(hk, ["/load " + fixture], "--kv-type", "f32")
    check(r.returncode == 0 and "predates identity records" in r.stderr and "stores fp8" in r.stderr
          and "[loaded" not in r.stderr, f"format 01 fixture under f32: {r.stderr!r}")

    # 4. Damaged files (the defaults' file, loaded under the defaults), all with a valid checksum
    # unless said: every /load refused with a message, the process alive, the conversation unchanged
    # (its answer equals a plain run's).
    path, data, whole, first = saved["defaults"]
    s = sections(data)
    body = data[:-8]

    def put_u64(at, value):
        return body[:at] + struct.pack("<Q", value) + body[at + 8:]

    def with_identity(text):
        return body[:s["identity_at"]] + struct.pack("<Q", len(text)) + text + body[s["messages_at"]:]

    bad = {
        "future format": seal(b"CNCHAT03" + body[8:]),
        "checksum only": data[:-1] + bytes([data[-1] ^ 0x80]),
        "cut, old checksum": data[:len(data) // 3],
        "empty": b"",
        "identity length huge": seal(put_u64(s["identity_at"], 1 << 63)),
        "identity length +1": seal(put_u64(s["identity_at"], len(s["identity"]) + 1)),
        "messages length huge": seal(put_u64(s["messages_at"], (1 << 64) - 1)),
        "id count huge": seal(put_u64(s["ids_at"], 1 << 62)),
        "state length huge": seal(put_u64(s["kv_at"], (1 << 64) - 8)),
        "identity not JSON": seal(with_identity(b"{\"model\": ")),
        "identity an array": seal(with_identity(b"[1, 2]")),
        "identity without act": seal(with_identity(json.dumps({"model": model, "kv_type": "fp8",
                                                               "kv_index_type": "fp8"}).encode())),
        "act q9": seal(with_identity(json.dumps({"model": model, "act": "q9", "kv_type": "fp8",
                                                 "kv_index_type": "fp8"}).encode())),
        "kv_type a number": seal(with_identity(json.dumps({"model": model, "act": "q8", "kv_type": 8,
                                                           "kv_index_type": "fp8"}).encode())),
        "identity deeply nested": seal(with_identity(b"[" * 100000 + b"]" * 100000)),
        "a token id past the vocabulary": seal(body[:s["ids_at"] + 8] + struct.pack("<i", 1 << 30)
                                               + body[s["ids_at"] + 12:]),
    }
    # Every cut of the header region and a sample of the rest, checksum recomputed: the sections'
    # lengths no longer add up.
    for cut in list(range(0, s["messages_at"] + 24)) + list(range(s["messages_at"] + 24, len(body), 997)):
        bad[f"cut at {cut}"] = seal(body[:cut])
    # Bits of the identity record (two per byte) and of the four length fields (every bit of the low
    # byte, the top bit of the others) flipped, checksum recomputed.
    flips = [(at, bit) for at in range(s["identity_at"] + 8, s["messages_at"]) for bit in (0, 5)]
    flips += [(s[k] + i, bit) for k in ("identity_at", "messages_at", "ids_at", "kv_at") for i in range(8)
              for bit in (range(8) if i == 0 else (7,))]
    for at, bit in flips:
        bad[f"flip bit {bit} of byte {at}"] = seal(body[:at] + bytes([body[at] ^ (1 << bit)]) + body[at + 1:])
    paths = []
    for i, (name, content) in enumerate(bad.items()):
        p = os.path.join(tmp, f"bad{i}.bin")
        with open(p, "wb") as f:
            f.write(content)
        paths.append((name, p))
    plain = whole
    r = chat(model, ["Hello there"] + ["/load " + p for _, p in paths] + ["How are you?"])
    replies = load_replies(r.stderr)
    check(r.returncode == 0 and len(replies) == len(paths), f"damaged: {r.returncode}, {len(replies)} replies "
          f"for {len(paths)} loads: {r.stderr[-2000:]!r}")
    for (name, p), reply in zip(paths, replies):
        check(reply.startswith("clawnet chat: ") and p in reply and "[loaded" not in reply,
              f"{name}: expected a refusal naming the file, got {reply!r}")
    check(r.stdout == plain.stdout, f"damaged: the conversation goes on unchanged: {r.stdout!r} != {plain.stdout!r}")
    print(f"{len(paths)} damaged session files refused", file=sys.stderr)

    # Bits flipped anywhere else (conversation, ids, random state, state image), checksum recomputed:
    # such a file may still be a valid session (a changed letter, another random state), so each
    # /load is either refused with a message or loaded; the process survives them all (ASan).
    paths = []
    spots = [s["messages_at"] + 8 + k for k in (1, 12)] + [s["rng_at"] + 3] + list(range(s["ids_at"], len(body), 1009))
    for i, at in enumerate(spots):
        p = os.path.join(tmp, f"flip{i}.bin")
        with open(p, "wb") as f:
            f.write(seal(body[:at] + bytes([body[at] ^ 0x10]) + body[at + 1:]))
        paths.append(p)
    r = chat(model, ["/load " + p for p in paths] + ["How are you?"])
    replies = load_replies(r.stderr)
    check(r.returncode == 0 and len(replies) == len(paths) and r.stdout.strip(),
          f"flipped data: {r.returncode}, {len(replies)} replies for {len(paths)} loads: {r.stderr[-2000:]!r}")
    loaded = [x.startswith("[loaded") for x in replies]
    check(len(loaded) == len(paths) and loaded[2], "another random state is still a session")
    print(f"{len(paths)} files with a flipped data bit: {sum(loaded)} loaded, the rest refused", file=sys.stderr)

print("test_cli_chat_session:", "ok" if not failures else f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
