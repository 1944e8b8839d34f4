#!/bin/bash
# Builds the test image — an OCI image layout made from Debian's busybox-static — with no network.
#   hack/build-test-image.sh [OUT_DIR]      (default: hack/.cache/busybox-oci)
# The result is deterministic (fixed mtimes, sorted tar, gzip -n), so its digest is stable.
# Tag: busybox:latest (annotation org.opencontainers.image.ref.name=latest).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/.cache/busybox-oci}
bb=/bin/busybox
if ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static file >/dev/null
  fi
fi
[ -x "$bb" ] || { echo "build-test-image: $bb missing (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,root,home,proc,sys,dev,var/www,usr/bin}
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] && continue
  ln -sf busybox "$root/bin/$applet"
done
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
echo '<html><body>hello from skiff</body></html>' > "$root/var/www/index.html"

mkdir -p "$work/blobs"
layer_tar=$work/layer.tar
tar --sort=name --mtime='2024-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner \
    -C "$root" -cf "$layer_tar" .
diff_id=$(sha256sum "$layer_tar" | cut -d' ' -f1)
gzip -n -9 -c "$layer_tar" > "$work/layer.tar.gz"
layer_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")

cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created":"2024-01-01T00:00:00Z","created_by":"hack/build-test-image.sh"}]}
JSON
config_digest=$(sha256sum "$work/config.json" | cut -d' ' -f1)
config_size=$(stat -c %s "$work/config.json")

cat > "$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config_digest","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer_digest","size":$layer_size}]}
JSON
manifest_digest=$(sha256sum "$work/manifest.json" | cut -d' ' -f1)
manifest_size=$(stat -c %s "$work/manifest.json")

rm -rf "$out.tmp" && mkdir -p "$out.tmp/blobs/sha256"
cp "$work/layer.tar.gz" "$out.tmp/blobs/sha256/$layer_digest"
cp "$work/config.json" "$out.tmp/blobs/sha256/$config_digest"
cp "$work/manifest.json" "$out.tmp/blobs/sha256/$manifest_digest"
echo '{"imageLayoutVersion":"1.0.0"}' > "$out.tmp/oci-layout"
cat > "$out.tmp/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest_digest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"latest"},"platform":{"architecture":"amd64","os":"linux"}}]}
JSON
rm -rf "$out" && mkdir -p "$(dirname "$out")" && mv "$out.tmp" "$out"
echo "$out"
