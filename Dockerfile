# The runtime image of the OC Lettings site: one static binary, nothing else.
#
# Build it with `go tool mage build`, not `docker build`: mage compiles a
# static linux/amd64 binary on the host (CA roots and time zones are embedded
# in it) and sends the engine a build context made in memory that holds only
# this file and that binary, named oc-lettings.
FROM scratch

COPY oc-lettings /oc-lettings

# The site listens on $PORT (Heroku and mage runLocal set it), 8000 without.
EXPOSE 8000
# A numeric, unprivileged user: no /etc/passwd is needed to resolve it.
USER 65532:65532
ENTRYPOINT ["/oc-lettings"]

# mage build sets these from git; the defaults mark an image built by hand.
ARG VERSION=dev REVISION=unknown CREATED=1970-01-01T00:00:00Z SOURCE=https://github.com/oc-lettings/oc-lettings
LABEL org.opencontainers.image.title="OC Lettings" \
      org.opencontainers.image.description="Orange County Lettings website" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"
