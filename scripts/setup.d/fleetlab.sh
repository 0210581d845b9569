# fleetlab: sshd runs only inside the lab's hosts, never on this machine. Its package
# enables ssh.service (and an init script); disable and mask them here. The lab's hosts
# unmask ssh.service in their own overlay (scripts/fleetlab).
if [ -e /lib/systemd/system/ssh.service ]; then
  for u in ssh.service ssh.socket sshd.service; do
    [ -L "/etc/systemd/system/$u" ] && [ "$(readlink "/etc/systemd/system/$u")" = /dev/null ] && continue
    systemctl disable "$u" >/dev/null 2>&1 || true
    systemctl mask "$u" >/dev/null 2>&1 || ln -sf /dev/null "/etc/systemd/system/$u"
  done
  command -v update-rc.d >/dev/null && update-rc.d ssh disable >/dev/null 2>&1 || true
fi
