import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed certificate and key, made with the openssl CLI in a temp dir. */
export interface Pem {
  dir: string;
  cert: string;
  key: string;
  /** Certificate followed by its private key, the form ClientCertificateCredential takes. */
  combined: string;
  combinedPath: string;
  remove(): void;
}

/** A certificate for `subject`; with `san`, usable as a TLS server certificate (e.g. "IP:127.0.0.1,DNS:localhost"). */
export function makeCertificate(subject: string, san?: string): Pem {
  const dir = mkdtempSync(join(tmpdir(), "defender-tls-"));
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2", "-subj", `/CN=${subject}`, "-keyout", keyPath, "-out", certPath,
      ...(san ? ["-addext", `subjectAltName=${san}`] : [])],
    { stdio: "ignore" },
  );
  const cert = readFileSync(certPath, "utf8");
  const key = readFileSync(keyPath, "utf8");
  const combinedPath = join(dir, "combined.pem");
  writeFileSync(combinedPath, `${cert}${key}`);
  return { dir, cert, key, combined: `${cert}${key}`, combinedPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
