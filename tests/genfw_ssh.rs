//! The lockout check against a real sshd (issue 14 item 2): a server network namespace
//! (and a private mount namespace with its own /run) running sshd on a high port with its
//! own config and keys, a "world" namespace across a veth pair that logs in with ssh, and
//! `genfw apply` run in that session directly, under `sudo` (whose env_reset drops
//! SSH_CONNECTION) and under `su -` (a fresh login environment). Needs root (sshd's
//! privilege separation) and openssh-server; skips otherwise.

mod support;

use std::process::Command;
use support::*;

const INVENTORY: &str = "\
[all:vars]
genfw_mgmt=198.51.100.0/24
genfw_ssh_port=2222
[app]
server ansible_host=192.0.2.1
peer ansible_host=192.0.2.10
";

#[test]
fn sessions_under_sudo_and_su_are_found_and_judged() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (sshd's privilege separation)");
        return;
    }
    let tools = [
        "unshare",
        "nsenter",
        "ip",
        "nft",
        "sshd",
        "ssh",
        "ssh-keygen",
        "sudo",
        "su",
    ];
    if !tools
        .iter()
        .all(|t| have_tool(t) || std::path::Path::new(&format!("/usr/sbin/{t}")).exists())
    {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("inv.ini"), INVENTORY).unwrap();
    let script = r#"set -u
world=; sshd=
trap 'kill $world $sshd 2>/dev/null' EXIT
mount -t tmpfs tmpfs /run && mkdir -m 755 /run/sshd || exit 10
unshare -n sleep 300 & world=$!
sleep 0.2
ip link add srv0 type veth peer name wld0 netns $world
ip link set lo up; ip link set srv0 up; ip addr add 192.0.2.1/24 dev srv0
W="nsenter -t $world -n"
$W ip link set lo up; $W ip link set wld0 up; $W ip addr add 192.0.2.50/24 dev wld0
ssh-keygen -q -t ed25519 -N '' -f $T/hostkey && ssh-keygen -q -t ed25519 -N '' -f $T/id || exit 11
cp $T/id.pub $T/authorized_keys
cat > $T/sshd_config <<EOF
Port 2222
ListenAddress 192.0.2.1
HostKey $T/hostkey
PidFile $T/sshd.pid
AuthorizedKeysFile $T/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF
$(command -v sshd || echo /usr/sbin/sshd) -D -e -f $T/sshd_config 2> $T/sshd.log & sshd=$!
for i in $(seq 100); do [ -s $T/sshd.pid ] && break; sleep 0.1; done
SSH="$W ssh -i $T/id -p 2222 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@192.0.2.1"
G="$LINKS/genfw apply -i $T/inv.ini --host server --state-dir $T/s"
run() { echo "== $1"; shift; $SSH "$@" 2>&1; echo "rc=$?"; }
run direct "env -u SSH_CONNECTION $G"
run sudo "sudo -u root $G"
run su "su - root -c '$G'"
run env-only "echo SSH_CONNECTION=\$SSH_CONNECTION"
# rules loaded in another network namespace cannot cut the session: not refused
run other-netns "env -u SSH_CONNECTION unshare -n $G"
# the session's network as management, or its interface trusted: let in
run mgmt "sudo $G --mgmt 192.0.2.0/24"
nft delete table inet genfw
run trusted "sudo $G --trust-iface srv0"
nft delete table inet genfw
run allowed "sudo $G --allow '192.0.2.48/28 tcp/2000-2999'"
nft delete table inet genfw
run allowed-elsewhere "sudo $G --allow '192.0.2.48/28 tcp/22'"
nft add table inet genfw
nft list table inet genfw > $T/before
# --force: applied, with a guard that brings the old rules back when no confirm comes
run force "sudo $G --force --confirm 2"
for i in $(seq 300); do grep -q ' guard: ' $T/s/guard.log 2>/dev/null && break; sleep 0.1; done
echo "== after"; cat $T/s/guard.log; nft list table inet genfw | diff $T/before - && echo restored
"#;
    let out = run(Command::new("unshare")
        .args(["-n", "-m", "--propagation", "private", "bash", "-c", script])
        .env("T", t.path())
        .env("LINKS", links_dir())
        .env_remove("SSH_CONNECTION"));
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    let section = |name: &str| -> String {
        text.split(&format!("== {name}\n"))
            .nth(1)
            .unwrap_or("")
            .split("\n== ")
            .next()
            .unwrap()
            .trim_end()
            .to_string()
    };
    for how in ["direct", "sudo", "su"] {
        let s = section(how);
        assert!(
            s.ends_with("rc=2"),
            "{how}: must be refused with exit 2:\n{text}"
        );
        assert!(
            s.contains("genfw: refusing to apply: this SSH session (from 192.0.2.50 port ")
                && s.contains(" to 192.0.2.1 port 2222 on srv0, found through sshd process "),
            "{how}:\n{text}"
        );
        assert!(
            s.contains("would be cut by the new rules of host server"),
            "{how}:\n{text}"
        );
    }
    // the ssh session really has the variable, so the process tree was what found it
    assert!(
        section("env-only").contains("SSH_CONNECTION=192.0.2.50 "),
        "{text}"
    );
    let o = section("other-netns");
    assert!(
        o.contains("applied: host server") && o.ends_with("rc=0"),
        "{text}"
    );
    let m = section("mgmt");
    assert!(
        m.contains("applied: host server") && m.ends_with("rc=0"),
        "{text}"
    );
    assert!(section("trusted").ends_with("rc=0"), "{text}");
    assert!(section("allowed").ends_with("rc=0"), "{text}");
    assert!(section("allowed-elsewhere").ends_with("rc=2"), "{text}");
    let f = section("force");
    assert!(
        f.contains("genfw: warning: --force: this SSH session"),
        "{text}"
    );
    assert!(
        f.contains("rollback guard: the previous rules come back in 2 s") && f.ends_with("rc=0"),
        "{text}"
    );
    let after = section("after");
    assert!(
        after.contains(" apply server: refused: this SSH session"),
        "{text}"
    );
    assert!(
        after.contains(" guard: rolled back: not confirmed within 2 s"),
        "{text}"
    );
    assert!(after.contains("restored"), "{text}");
}
