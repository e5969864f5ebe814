"""
tests/integration/certs.py — a throw-away PKI for the TLS tests (issue 13),
made with the `openssl` command in a folder the caller gives.

make_pki(folder) returns a dict of paths:
  ca, ca_key          the test CA (signs everything below)
  server, server_key  "localhost", "smsc.test", "ss.test" and IP 127.0.0.1
  client, client_key  a client certificate ("agency.test") signed by the CA
  ss_client, ss_client_key   a second client certificate ("security-server.test")
  other_ca            an unrelated CA (a wrong trust anchor)
  rogue, rogue_key    a "localhost"/127.0.0.1 certificate signed by other_ca
  wrong_name, wrong_name_key  signed by the CA but naming only "elsewhere.test"

Owns: the files it writes.  May call: the openssl command (subprocess).
Python standard library only; every call makes fresh keys (EC P-256, fast).
"""
import os
import subprocess


def _run(args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def _ca(folder, name):
    _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
          "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
          "-out", name + ".pem", "-days", "2", "-subj", "/CN=kyzmat test " + name],
         folder)


def _leaf(folder, name, ca, san, usage):
    _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
          "-subj", "/CN=" + name], folder)
    with open(os.path.join(folder, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\nextendedKeyUsage=%s\n" % (san, usage))
    _run(["openssl", "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
          "-CAkey", ca + ".key", "-CAcreateserial", "-days", "2",
          "-extfile", name + ".ext", "-out", name + ".pem"], folder)


def make_pki(folder):
    os.makedirs(folder, exist_ok=True)
    _ca(folder, "ca")
    _ca(folder, "other_ca")
    local = "DNS:localhost,DNS:smsc.test,DNS:ss.test,IP:127.0.0.1"
    _leaf(folder, "server", "ca", local, "serverAuth")
    _leaf(folder, "client", "ca", "DNS:agency.test", "clientAuth")
    _leaf(folder, "ss_client", "ca", "DNS:security-server.test", "clientAuth")
    _leaf(folder, "rogue", "other_ca", local, "serverAuth")
    _leaf(folder, "wrong_name", "ca", "DNS:elsewhere.test", "serverAuth")
    out = {}
    for n in ("ca", "other_ca", "server", "client", "ss_client", "rogue", "wrong_name"):
        out[n] = os.path.join(folder, n + ".pem")
        out[n + "_key"] = os.path.join(folder, n + ".key")
    return out


if __name__ == "__main__":
    import sys
    import tempfile
    d = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="kyzmat-pki-")
    for k, v in sorted(make_pki(d).items()):
        print(k, v)
