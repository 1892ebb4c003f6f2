// The relay as a system service (README "Running as a service"): the text of the systemd
// unit (Linux), the launchd plist (macOS) and the Windows commands. Pure functions of the
// settings, so the tests can check exactly what `ctrl service install` writes.

export const SERVICE_NAME = "smsg-relay";
export const LAUNCHD_LABEL = "org.smsg.relay";

export interface ServiceSpec {
  /** The command that runs smsg: the binary, or bun and src/main.ts. */
  command: string[];
  dataDir: string;
  user: string;
  /** A TOML config file passed as --config (it may be absent: the relay then fails clearly). */
  config?: string;
  /** Seconds transfers may take to finish on stop; the service manager waits a bit longer. */
  shutdownGrace: number;
}

/** systemd quoting: words with spaces or quotes in double quotes, `\` and `"` escaped, `%` doubled. */
function sdQuote(w: string): string {
  const s = w.replaceAll("%", "%%");
  return /[\s"'\\]/.test(s) ? `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"` : s;
}

/**
 * A hardened unit: its own user, the whole file system read-only but for the state and log
 * directories, no new privileges, no capabilities. Not MemoryDenyWriteExecute: Bun's
 * JavaScript JIT needs writable executable memory.
 */
export function systemdUnit(s: ServiceSpec): string {
  const exec = [...s.command, "relay", "--service", "--data", s.dataDir, ...(s.config ? ["--config", s.config] : [])];
  const stateDir = /^\/var\/lib\/([^/]+)$/.exec(s.dataDir)?.[1];
  return `# smsg relay, written by \`smsg ctrl service install\`. README "Running as a service".
[Unit]
Description=smsg relay (end-to-end encrypted private mail)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${exec.map(sdQuote).join(" ")}
User=${s.user}
Group=${s.user}
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=${s.shutdownGrace + 15}
${stateDir ? `StateDirectory=${stateDir}\nStateDirectoryMode=0700` : `ReadWritePaths=${sdQuote(s.dataDir)}`}
LogsDirectory=smsg
LogsDirectoryMode=0750
ConfigurationDirectory=smsg
ConfigurationDirectoryMode=0755
UMask=0077
LimitNOFILE=65536

NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources @mount @debug @cpu-emulation @obsolete @raw-io @reboot @swap

[Install]
WantedBy=multi-user.target
`;
}

function xml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** A LaunchDaemon: started at boot, restarted when it exits with an error. */
export function launchdPlist(s: ServiceSpec): string {
  const args = [...s.command, "relay", "--service", "--data", s.dataDir, ...(s.config ? ["--config", s.config] : [])];
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args.map((a) => `    <string>${xml(a)}</string>`).join("\n")}
  </array>
  <key>UserName</key>
  <string>${xml(s.user)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ExitTimeOut</key>
  <integer>${s.shutdownGrace + 15}</integer>
  <key>Umask</key>
  <integer>63</integer>
  <key>StandardOutPath</key>
  <string>/Library/Logs/smsg/relay.out</string>
  <key>StandardErrorPath</key>
  <string>/Library/Logs/smsg/relay.err</string>
</dict>
</plist>
`;
}

function winQuote(w: string): string {
  return /[\s"]/.test(w) ? `"${w.replaceAll('"', '\\"')}"` : w;
}

/**
 * Windows: a Bun executable does not speak the Service Control Manager's protocol, so
 * `sc.exe create` on it alone fails to start (error 1053). These commands register a task
 * that starts the relay at boot as LocalService and restarts it on failure; the sc.exe
 * lines are for running it under a service wrapper (WinSW, NSSM) named smsg-relay.
 */
export function windowsCommands(s: ServiceSpec): string[] {
  const cmd = [...s.command, "relay", "--service", "--data", s.dataDir, ...(s.config ? ["--config", s.config] : [])].map(winQuote).join(" ");
  return [
    `schtasks /Create /TN ${SERVICE_NAME} /SC ONSTART /RU "NT AUTHORITY\\LOCALSERVICE" /RL LIMITED /TR ${winQuote(cmd)}`,
    `schtasks /Run /TN ${SERVICE_NAME}`,
    `schtasks /End /TN ${SERVICE_NAME}`,
    `schtasks /Query /TN ${SERVICE_NAME} /V /FO LIST`,
    `schtasks /Delete /TN ${SERVICE_NAME} /F`,
    `rem With a service wrapper (WinSW or NSSM) installed as smsg-relay.exe next to smsg.exe:`,
    `sc.exe create ${SERVICE_NAME} binPath= "C:\\Program Files\\smsg\\smsg-relay.exe" start= delayed-auto obj= "NT AUTHORITY\\LocalService"`,
    `sc.exe failure ${SERVICE_NAME} reset= 86400 actions= restart/5000/restart/5000/restart/60000`,
    `sc.exe start ${SERVICE_NAME}`,
    `sc.exe stop ${SERVICE_NAME}`,
    `sc.exe query ${SERVICE_NAME}`,
    `sc.exe delete ${SERVICE_NAME}`,
  ];
}
