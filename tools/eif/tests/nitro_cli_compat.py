#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compare eif's JSON with nitro-cli's recorded output shapes (TAP).

    nitro_cli_compat.py EIF_BINARY

For images with and without metadata, signed and unsigned, "eif describe
--json" must have the field names of "nitro-cli describe-eif" (the
fixtures in nitro-cli/, see nitro-cli/README.rst), in the same order and
with the same JSON types, recursively; "eif build" must print
build-enclave's {"Measurements": {...}}. A signed image is made here with
the openssl command (a P-384 key, a self-signed certificate, a COSE_Sign1
of PCR0) to check SignatureCheck both ways.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "nitro-cli")

results = []


def check(name, problems, skip=None):
    results.append((name, problems, skip))


def load(name):
    with open(os.path.join(FIX, name)) as f:
        return json.load(f)


def jtype(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(v)]


def compare(want, got, path="", extra_ok=(), subset=False):
    """Differences in names, order and types of want and got, recursively.

    extra_ok: object paths where got may have members want lacks (maps:
    the custom metadata merged into Metadata, the issuer's attributes);
    subset: got may have more
    members anywhere (for the documented partial sample).
    """
    out = []
    if jtype(want) != jtype(got):
        return ["%s: type %s, nitro-cli has %s" % (path or "/", jtype(got),
                                                   jtype(want))]
    if isinstance(want, dict):
        for k in want:
            if k not in got:
                out.append("%s/%s: missing" % (path, k))
            else:
                out += compare(want[k], got[k], path + "/" + k, extra_ok,
                               subset)
        extra = [k for k in got if k not in want]
        if extra and not subset and path not in extra_ok:
            out.append("%s: extra fields %s" % (path or "/", extra))
        common = [k for k in got if k in want]
        if not subset and common != [k for k in want if k in got]:
            out.append("%s: order %s, nitro-cli has %s" % (path or "/", common,
                                                          list(want)))
    elif isinstance(want, list) and want and got:
        for i, v in enumerate(got):
            out += compare(want[0], v, "%s[%d]" % (path, i), extra_ok, subset)
    return out


def expected_shape(signed, metadata):
    """describe-eif's fields for such an image (see nitro-cli/README.rst)."""
    full = load("describe-eif.full.json")
    if not signed:
        del full["Measurements"]["PCR8"]
        del full["SigningCertificate"]
        del full["SignatureCheck"]
    if not metadata:
        for k in ("ImageName", "ImageVersion", "Metadata"):
            del full[k]
    return full


def run(*args, ok=(0,)):
    p = subprocess.run([EIF] + list(args), cwd=TMP, capture_output=True,
                       text=True)
    if p.returncode not in ok:
        raise RuntimeError("eif %s: exit %d: %s" % (" ".join(args),
                                                    p.returncode, p.stderr))
    return p


def describe(path):
    return json.loads(run("describe", "--json", path).stdout)


# ---- a signed image, made with the openssl command ----------------------

def cbor_head(major, v):
    if v < 24:
        return bytes([major << 5 | v])
    if v < 256:
        return bytes([major << 5 | 24, v])
    if v < 65536:
        return bytes([major << 5 | 25]) + struct.pack(">H", v)
    return bytes([major << 5 | 26]) + struct.pack(">I", v)


def cbor_bstr(b):
    return cbor_head(2, len(b)) + b


def cbor_text(s):
    return cbor_head(3, len(s)) + s.encode()


def cbor_byte_array(b):
    """A Vec<u8> as serde_cbor writes it: an array of small integers."""
    return cbor_head(4, len(b)) + b"".join(cbor_head(0, x) for x in b)


def der_ecdsa_to_raw(der, half):
    """DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs) to r || s."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(half, b"\0")
        i += 2 + n
    return out


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), cwd=TMP, input=data,
                          capture_output=True, check=True).stdout


def sign_image(src, dst, pcr0_hex):
    """Append a signature section for PCR0 = pcr0_hex (EIF spec 1.9)."""
    key = os.path.join(TMP, "key.pem")
    cert = os.path.join(TMP, "cert.pem")
    if not os.path.exists(cert):
        openssl("ecparam", "-name", "secp384r1", "-genkey", "-noout",
                "-out", key)
        openssl("req", "-new", "-x509", "-key", key, "-out", cert,
                "-days", "365", "-sha384", "-subj",
                "/C=US/O=eif test/CN=eif-compat")
    protected = b"\xa1\x01\x38\x22"            # {1: -35} (ES384)
    payload = (b"\xa2" + cbor_text("register_index") + b"\x00" +
               cbor_text("register_value") +
               cbor_byte_array(bytes.fromhex(pcr0_hex)))
    tbs = (b"\x84" + cbor_text("Signature1") + cbor_bstr(protected) +
           cbor_bstr(b"") + cbor_bstr(payload))
    der = openssl("dgst", "-sha384", "-sign", key, data=tbs)
    cose = (b"\x84" + cbor_bstr(protected) + b"\xa0" + cbor_bstr(payload) +
            cbor_bstr(der_ecdsa_to_raw(der, 48)))
    with open(cert, "rb") as f:
        pem = f.read()
    sec = (b"\x81\xa2" + cbor_text("signing_certificate") +
           cbor_byte_array(pem) + cbor_text("signature") +
           cbor_byte_array(cose))
    with open(os.path.join(TMP, src), "rb") as f:
        img = bytearray(f.read())
    n = struct.unpack_from(">H", img, 26)[0]
    struct.pack_into(">H", img, 26, n + 1)
    struct.pack_into(">Q", img, 28 + 8 * n, len(img))
    struct.pack_into(">Q", img, 284 + 8 * n, len(sec))
    img += struct.pack(">HHQ", 4, 0, len(sec)) + sec
    crc = zlib.crc32(bytes(img[:544]) + bytes(img[548:])) & 0xffffffff
    struct.pack_into(">I", img, 544, crc)
    with open(os.path.join(TMP, dst), "wb") as f:
        f.write(img)


def main():
    for name, data in (("k", b"kernel"), ("r0", b"ramdisk0"),
                       ("r1", b"ramdisk1"),
                       ("custom.json", b'{"app": "x", "tags": [1, 2]}')):
        with open(os.path.join(TMP, name), "wb") as f:
            f.write(data)
    base = ["build", "--kernel", "k", "--cmdline", "console=ttyS0",
            "--ramdisk", "r0", "--ramdisk", "r1"]

    # build: stdout is build-enclave's JSON, the progress lines on stderr.
    p = run(*base, "-o", "plain.eif")
    try:
        got = json.loads(p.stdout)
        probs = compare(load("build-enclave.signed.documented.json"), got)
        probs = [x for x in probs if "PCR8" not in x]   # unsigned build
        if "Enclave Image successfully created." not in p.stderr:
            probs.append("stderr lacks build-enclave's success line")
    except ValueError as e:
        probs = ["stdout is not JSON: %s" % e]
    check("build prints build-enclave's JSON on stdout", probs)
    run(*base, "--metadata", "custom.json", "-o", "custom.eif")

    cases = [
        ("unsigned, with metadata", "plain.eif", False, True),
        ("unsigned, with custom metadata", "custom.eif", False, True),
    ]
    corpus = os.path.join(HERE, "..", "..", "testing", "fuzz", "eif",
                          "corpus")
    for name, fname in (("unsigned, version 3 without metadata",
                         "v3-no-metadata.eif"),
                        ("unsigned, null metadata",
                         "v4-null-metadata-aarch64.eif")):
        cases.append((name, os.path.join(corpus, fname), False, False))

    if shutil.which("openssl"):
        pcr0 = describe("plain.eif")["Measurements"]["PCR0"]
        sign_image("plain.eif", "signed.eif", pcr0)
        sign_image("plain.eif", "signed-other.eif", "ab" * 48)
        cases.append(("signed, with metadata", "signed.eif", True, True))
        cases.append(("signed for another PCR0", "signed-other.eif", True,
                      True))
    else:
        for name in ("signed, with metadata: fields and types",
                     "signed, with metadata: SignatureCheck True",
                     "signed for another PCR0: fields and types",
                     "signed for another PCR0: SignatureCheck False",
                     "IssuerName by long name, sorted"):
            check("describe --json, " + name, [], "no openssl command")
    cases.append(("signed, bad COSE (fuzz seed)",
                  os.path.join(corpus, "v4-signed.eif"), True, True))

    doc = load("describe-eif.documented.json")
    for name, path, signed, md in cases:
        try:
            got = describe(path)
        except (RuntimeError, ValueError) as e:
            check("describe --json, %s: fields and types" % name, [str(e)])
            continue
        probs = compare(expected_shape(signed, md), got,
                        extra_ok=("/Metadata",
                                  "/SigningCertificate/IssuerName"))
        probs += compare(doc, got, subset=True)
        check("describe --json, %s: fields and types" % name, probs)
        if name.startswith("unsigned, with custom"):
            m = got.get("Metadata", {})
            check("describe --json: custom metadata merged into Metadata",
                  [] if m.get("app") == "x" and m.get("tags") == [1, 2]
                  else ["Metadata is %r" % m])
        if signed:
            want = name == "signed, with metadata"
            check("describe --json, %s: SignatureCheck %s" % (name, want),
                  [] if got.get("SignatureCheck") is want
                  else ["SignatureCheck is %r" % got.get("SignatureCheck")])
        if name == "signed, with metadata":
            issuer = got.get("SigningCertificate", {}).get("IssuerName")
            want = {"commonName": "eif-compat", "countryName": "US",
                    "organizationName": "eif test"}
            check("describe --json: IssuerName by long name, sorted",
                  [] if issuer == want and list(issuer) == sorted(issuer)
                  else ["IssuerName is %r" % issuer])

    print("TAP version 13")
    print("1..%d" % len(results))
    failed = 0
    for i, (name, probs, skip) in enumerate(results, 1):
        print("%sok %d - %s%s" % ("not " if probs else "", i, name,
                                  " # SKIP " + skip if skip else ""))
        for x in probs:
            print("# %s" % x)
        failed += bool(probs)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: nitro_cli_compat.py EIF_BINARY", file=sys.stderr)
        sys.exit(2)
    EIF = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory(prefix="eif-compat.") as TMP:
        sys.exit(main())
