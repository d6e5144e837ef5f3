# Coffer: one image for both roles. `docker compose up` runs it twice (api, worker);
# alone, `docker run -p 8080:8080 -v coffer-data:/data IMAGE` runs both roles in one
# process (`deno task start`) with the embedded defaults of docs/OPERATIONS.md.
#
# Pinned to the Deno release the project is developed and tested with; bump it
# deliberately (deno.lock must stay readable by the image's Deno).
FROM denoland/deno:2.9.6

ENV DENO_NO_UPDATE_CHECK=1 \
    DENO_NO_PROMPT=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    COFFER_DATA_DIR=/data

WORKDIR /app

# The image's unprivileged `deno` user (uid 1993) owns the app folder (node_modules is
# created there), the data folder and DENO_DIR. A named volume mounted on /data starts
# as a copy of this folder, so it is writable by `deno` too.
# libcrypto 3 for the OpenSSL crypto engine (docs/OPERATIONS.md, "Crypto engine"): the openssl
# package depends on it under either of its Debian names (libssl3, libssl3t64). The image runs
# with COFFER_CRYPTO_ENGINE=openssl, so a broken library stops start-up instead of running slower.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl \
 && rm -rf /var/lib/apt/lists/*
ENV COFFER_CRYPTO_ENGINE=openssl

RUN mkdir -p /data && chown deno:deno /app /data
USER deno

# Dependencies first, so this layer is rebuilt only when deno.json or deno.lock change.
# --frozen fails the build if the lockfile is out of date instead of resolving anew.
COPY --chown=deno:deno deno.json deno.lock ./
RUN deno install --frozen

# Sources stay owned by root: the service can read but not rewrite its own code.
COPY . .
# Fetch and compile the whole module graph now, so containers start without network.
RUN deno install --frozen --entrypoint main.ts

VOLUME /data
EXPOSE 8080

# Liveness of the API role (the worker role serves no HTTP: compose disables this
# check for it). curl is not in the image; deno eval has every permission.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('PORT') ?? 8080}/healthz`); Deno.exit(r.ok ? 0 : 1)"]

# `deno task start` runs API and worker together; compose overrides this with
# `deno task api` / `deno task worker`. tini (the image's entrypoint) and deno task
# forward SIGTERM, so shutdown is graceful.
CMD ["deno", "task", "start"]
