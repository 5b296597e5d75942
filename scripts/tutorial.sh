#!/bin/sh
# The tutorial vitro's users follow (a 2014 Docker tutorial, ../shared/seeds/), its
# commands in order with `vitro` for `sudo docker`. Each block is the tutorial's lines,
# then a check of what the tutorial says should happen; "ok: ..." per block, or
# "FAIL: ..." and exit 1 at the first that does not hold.
#
# It expects a lab (the tutorial test, Tests/VitroIntegrationTests/TutorialTests.swift,
# sets one up in network namespaces of its own):
#   - VITRO_REGISTRY_MIRROR naming a registry with Docker Hub's names the tutorial
#     uses: ubuntu (latest, 12.04, 12.10), training/webapp, training/postgres;
#   - REGISTRY_TAR, a `docker save` archive of an image named `registry`;
#   - SRC, a host directory to stand for the tutorial's /src/webapp;
#   - `vitro`, `nc`, `curl` and `script` (util-linux) on PATH.
# Where the tutorial prints a placeholder (<container_id>, 192.168.7.26) the script
# uses the value it has; where the tutorial leaves a command half-written (`docker run
# -d -p 5000:5000` with no image), it is left out. Nothing else is changed.

set -u
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
# A terminal for -i -t: util-linux `script` runs the command on a pty and types stdin.
tty_run() { script -qec "$1" /dev/null; }

# ---- Getting started
vitro pull ubuntu > pull.out 2>&1 || fail "pull ubuntu: $(cat pull.out)"
grep -q "Status: Downloaded newer image for ubuntu:latest" pull.out || fail "pull ubuntu said: $(cat pull.out)"
ok "sudo docker pull ubuntu"

out=$(printf 'echo inside-$((6*7)) $(hostname)\nexit\n' | tty_run "vitro run -i -t ubuntu /bin/bash") || fail "run -i -t: $out"
case "$out" in *inside-42*) ;; *) fail "run -i -t ubuntu /bin/bash printed: $out" ;; esac
ok "sudo docker run -i -t ubuntu /bin/bash"

# ---- Starting a long-running worker process
JOB=$(vitro run -d ubuntu /bin/sh -c "while true; do echo Hello world; sleep 1; done") || fail "run -d"
sleep 2
vitro logs $JOB | grep -q "^Hello world$" || fail "logs \$JOB: $(vitro logs $JOB 2>&1)"
vitro kill $JOB > /dev/null || fail "kill \$JOB"
[ "$(vitro inspect -f '{{.State.Running}}' $JOB)" = false ] || fail "the worker still runs after kill"
ok "the long-running worker: run -d, logs, kill"

# ---- Bind a service on a TCP port
JOB=$(vitro run -d -p 4444 ubuntu:12.10 /bin/nc -l 4444) || fail "run -d -p 4444 ubuntu:12.10"
PORT=$(vitro port $JOB 4444 | awk -F: '{ print $2 }')
[ -n "$PORT" ] || fail "port \$JOB 4444 printed: $(vitro port $JOB 4444 2>&1)"
# (the tutorial connects at once; nc in the container may not listen yet)
for i in 1 2 3 4 5 6 7 8 9 10; do echo hello world | nc 127.0.0.1 $PORT 2> /dev/null && break; sleep 0.3; done
sleep 0.5
received="Daemon received: $(vitro logs $JOB)"
[ "$received" = "Daemon received: hello world" ] || fail "$received"
ok "bind a service: run -d -p 4444, port, nc, logs"

# ---- Committing (saving) a container state
vitro commit $JOB tutorial/netcat > /dev/null || fail "commit \$JOB"
vitro images | grep -q "^tutorial/netcat " || fail "images lacks the commit: $(vitro images)"
ok "commit <container_id> <some_name>; images"

# ---- 3. images: pull a tag, change a container, commit with -m and -a
vitro pull ubuntu:12.04 > /dev/null || fail "pull ubuntu:12.04"
out=$(printf 'mkdir -p /etc/nginx && echo "server {}" > /etc/nginx/nginx.conf\nexit\n' | tty_run "vitro run -t -i ubuntu:12.04 /bin/bash") || fail "run -t -i ubuntu:12.04: $out"
CID=$(vitro ps -lq)
vitro commit -m 'add ngnix' -a 'feisky' $CID ubuntu:nginx > /dev/null || fail "commit -m -a"
vitro images | grep -q "^ubuntu  *nginx " || fail "images lacks ubuntu:nginx: $(vitro images)"
[ "$(vitro inspect -f '{{.Author}} {{.Comment}}' ubuntu:nginx)" = "feisky add ngnix" ] || fail "author and comment: $(vitro inspect -f '{{.Author}} {{.Comment}}' ubuntu:nginx)"
[ "$(vitro run --rm ubuntu:nginx cat /etc/nginx/nginx.conf)" = "server {}" ] || fail "the committed change"
ok "pull ubuntu:12.04; run -t -i; commit -m -a; images"

# ---- build from a Dockerfile (the tutorial's, unchanged)
mkdir -p www && cd www
cat > Dockerfile <<'EOF'

# yet another ngnix
FROM ubuntu:12.04
MAINTAINER feisky <feisky@root>
RUN apt-get update
RUN apt-get -y install nginx
# put my local site to /var/www
ADD index.html /var/www/html/
# expose httpd port
EXPOSE 80
# the command to run
CMD ["/usr/sbin/nginx"]
EOF
echo "my local site" > index.html
vitro build -t 'ubuntu:www' . > ../build.out 2>&1 || fail "build: $(cat ../build.out)"
cd ..
grep -q "^Successfully tagged ubuntu:www$" build.out || fail "build said: $(cat build.out)"
case "$(vitro run --rm ubuntu:www)" in *"my local site"*) ;; *) fail "the built image's CMD" ;; esac
vitro build -t 'ubuntu:www' www | grep -q "Using cache" || fail "a second build does not use the cache"
ok "docker build -t 'ubuntu:www' ."

# ---- import from a tarball (an OpenVZ template in the tutorial)
vitro export $CID | gzip > template.tar.gz || fail "export for the template"
cat template.tar.gz | vitro import - ubuntu:14.04 > /dev/null || fail "import - ubuntu:14.04"
[ "$(vitro run --rm ubuntu:14.04 cat /etc/nginx/nginx.conf)" = "server {}" ] || fail "the imported image"
ok "cat ...tar.gz | docker import - ubuntu:14.04"

# ---- save and load
vitro save -o ubuntu_12.04.tar ubuntu:12.04 || fail "save -o"
vitro rmi ubuntu:12.04 > /dev/null || fail "rmi before load"
vitro load --input ubuntu_12.04.tar | grep -q "Loaded image: ubuntu:12.04" || fail "load --input"
vitro rmi ubuntu:12.04 > /dev/null || fail "rmi before load <"
vitro load < ubuntu_12.04.tar | grep -q "Loaded image: ubuntu:12.04" || fail "load <"
[ "$(vitro run --rm ubuntu:12.04 echo loaded)" = loaded ] || fail "run the loaded image"
ok "save -o; load --input; load <"

# ---- export a container, import it as an image
vitro ps -a | grep -q "$(echo $CID | cut -c1-12)" || fail "ps -a lacks $CID"
vitro export $CID > ubuntu.tar || fail "export > ubuntu.tar"
cat ubuntu.tar | vitro import - test/buntu:v1.0 > /dev/null || fail "import - test/buntu:v1.0"
[ "$(vitro run --rm test/buntu:v1.0 cat /etc/nginx/nginx.conf)" = "server {}" ] || fail "the imported container"
vitro rmi test/buntu:v1.0 > /dev/null || fail "rmi"
ok "ps -a; export > ubuntu.tar; import -; rmi"

# ---- 4. containers
[ "$(vitro run ubuntu:nginx /bin/echo 'hello world')" = "hello world" ] || fail "run ubuntu:nginx /bin/echo"
vitro start $CID > /dev/null || fail "start \$CID"
vitro ps | grep -q "$(echo $CID | cut -c1-12)" || true  # (its /bin/bash ends at once without a terminal)
vitro stop $JOB > /dev/null || fail "stop"
vitro restart $JOB > /dev/null || fail "restart"
[ "$(vitro inspect -f '{{.State.Running}}' $JOB)" = true ] || fail "restart left it stopped"
vitro stop $JOB > /dev/null
ok "run ... echo; start; stop; restart; ps"

# ---- 5. a private registry
vitro load < "$REGISTRY_TAR" > /dev/null || fail "load the registry image"
REG=$(vitro run -d -p 5000:5000 registry) || fail "run -d -p 5000:5000 registry"
for i in $(seq 1 50); do curl -sf http://127.0.0.1:5000/v2/ > /dev/null && break; sleep 0.2; done
ID=$(vitro images -q ubuntu:latest)
vitro tag $(echo $ID | cut -c1-4) 127.0.0.1:5000/test || fail "tag by a short id"
vitro push 127.0.0.1:5000/test > push.out 2>&1 || fail "push: $(cat push.out)"
curl -s http://127.0.0.1:5000/v2/_catalog | grep -q '"test"' || fail "the registry's catalog: $(curl -s http://127.0.0.1:5000/v2/_catalog)"
vitro search 127.0.0.1:5000/test | grep -q "test" || fail "search: $(vitro search 127.0.0.1:5000/test 2>&1)"
vitro rmi 127.0.0.1:5000/test > /dev/null
vitro pull 127.0.0.1:5000/test > /dev/null || fail "pull from the private registry"
ok "run -d -p 5000:5000 registry; tag; push; search; pull"

# ---- 6. data volumes
vitro run -d -P --name web -v /webapp training/webapp python app.py > /dev/null || fail "run -P -v /webapp"
WEB=$(vitro port web 5000 | awk -F: '{ print $2 }')
for i in $(seq 1 30); do page=$(curl -s http://127.0.0.1:$WEB/) && [ -n "$page" ] && break; sleep 0.2; done
case "$page" in *"Hello world!"*) ;; *) fail "the web app on port $WEB said: $page" ;; esac
vitro rm -f -v web > /dev/null
echo "from the host" > "$SRC/note.txt"
vitro run -d -P --name web -v "$SRC":/opt/webapp training/webapp python app.py > /dev/null || fail "run -v SRC:/opt/webapp"
[ "$(vitro exec web cat /opt/webapp/note.txt)" = "from the host" ] || fail "the bind mount"
vitro rm -f web > /dev/null
vitro run -d -P --name web -v "$SRC":/opt/webapp:ro training/webapp python app.py > /dev/null || fail "run -v ...:ro"
vitro exec web touch /opt/webapp/x 2> ro.err && fail "a write to a :ro volume worked"
grep -q "Read-only file system" ro.err || fail "the :ro error: $(cat ro.err)"
vitro rm -f web > /dev/null
echo "history" > ~/.bash_history
out=$(printf 'cat /.bash_history\nexit\n' | tty_run "vitro run --rm -it -v ~/.bash_history:/.bash_history ubuntu /bin/bash")
case "$out" in *history*) ;; *) fail "a file mount: $out" ;; esac
ok "run -v /webapp; -v HOST:CTR; :ro; a single file"

vitro run -d -v /dbdata --name dbdata training/postgres echo Data-only container for postgres > /dev/null || fail "the data container"
vitro run -d --volumes-from dbdata --name db1 training/postgres > /dev/null || fail "db1"
vitro run -d --volumes-from dbdata --name db2 training/postgres > /dev/null || fail "db2"
vitro exec db1 sh -c 'echo shared > /dbdata/x' || fail "write in db1"
[ "$(vitro exec db2 cat /dbdata/x)" = shared ] || fail "db2 does not see db1's write"
vitro rm -f db1 db2 > /dev/null
vitro rm -v dbdata > /dev/null
ok "data-volume container; --volumes-from"

# ---- 7. networking: links
vitro run -d --name db training/postgres > /dev/null || fail "run --name db"
vitro run -d -P --name web --link db:db training/webapp python app.py > /dev/null || fail "run --link db:db"
[ "$(vitro inspect -f "{{ .Name }}" $(vitro ps -q -l))" = /web ] || fail "inspect -f {{ .Name }}"
env=$(vitro run --rm --name web2 --link db:db training/webapp env)
DBIP=$(vitro inspect -f '{{.NetworkSettings.IPAddress}}' db)
for want in "DB_NAME=/web2/db" "DB_PORT=tcp://$DBIP:5432" "DB_PORT_5432_TCP=tcp://$DBIP:5432" "DB_PORT_5432_TCP_PROTO=tcp" "DB_PORT_5432_TCP_PORT=5432" "DB_PORT_5432_TCP_ADDR=$DBIP"; do
  echo "$env" | grep -qx "$want" || fail "env lacks $want: $env"
done
out=$(printf 'cat /etc/hosts\nexit\n' | tty_run "vitro run -t -i --rm --link db:db training/webapp /bin/bash")
echo "$out" | grep -q "^$DBIP[[:space:]]*db" || fail "/etc/hosts lacks db: $out"
vitro rm -f web db > /dev/null
ok "--link: inspect -f {{ .Name }}, env, /etc/hosts"

# ---- clean up what the tutorial made
vitro rm -f $(vitro ps -aq) > /dev/null 2>&1
vitro volume prune -f > /dev/null 2>&1
echo "done"
