package fact

// goldenDigest is Digest(file("/etc/hosts", 7, 0o644, 5)) as first
// computed; see TestDigestIsStable.
const goldenDigest = "5aa36432808edadd977589f085de88fe22e0986cd93434b7c13b7a98f8e03d5c"
