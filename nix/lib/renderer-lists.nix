# The renderer's lists of names that the checks at evaluation time need: the attributes
# of a process description, the keys of its nested attribute sets and the privileged
# groups. They copy lists of src/spec/, and a test checks that both agree: change them
# together.
{
  /**
    The attributes a process description may have (`spec::PROCESS_ATTRIBUTES` without
    `config`, which the composition supplies).
  */
  knownAttributes = [
    "name" "instanceName" "description" "activities" "instructions" "process" "args"
    "processIsDaemon" "environment" "dependencies" "user" "credentials" "umask" "nice"
    "directory" "path" "paths" "initialize" "removeActivities" "runlevels"
    "defaultStart" "defaultStop" "pidFile" "reloadSignal" "globalInstructions"
    "enableDaemonOutputLogging" "readiness"
    "allowPrivilegedCredentials" "respawn" "logRotate" "limits" "logFiles" "secrets"
  ];

  /** The keys of `credentials` (`spec::CREDENTIAL_KINDS`). */
  credentialKinds = [ "groups" "users" ];

  /** The keys of one entry of `credentials.groups` (`spec::GROUP_KEYS`). */
  groupKeys = [ "gid" ];

  /** The keys of one entry of `credentials.users` (`spec::USER_KEYS`). */
  userKeys = [ "group" "extraGroups" "description" "homeDir" "createHomeDir" "shell" "uid" ];

  /** The keys of `readiness` (`spec::READINESS_ATTRIBUTES`). */
  readinessKeys = [ "tcpPort" "tcpHost" "command" "timeout" ];

  /** The keys of one entry of `instructions` (`spec::INSTRUCTION_ATTRIBUTES`). */
  instructionKeys = [ "activity" "instruction" ];

  /** The keys of `respawn` when it is a set (`spec::RESPAWN_ATTRIBUTES`). */
  respawnKeys = [ "delay" "attempts" "window" "settle" ];

  /** The keys of `logRotate` when it is a set (`spec::LOG_ROTATE_ATTRIBUTES`). */
  logRotateKeys = [ "maxSize" "keep" ];

  /** The keys of `limits` (`spec::LIMIT_NAMES`). */
  limitNames = [
    "as" "core" "cpu" "cpuWeight" "data" "fsize" "locks" "memlock" "memory" "msgqueue"
    "nice" "nofile" "nproc" "pids" "rss" "rtprio" "rttime" "sigpending" "stack"
  ];

  /**
    The groups whose members have root-equivalent rights (`spec::PRIVILEGED_GROUPS`):
    credentials that create them or put a user in them need
    `allowPrivilegedCredentials`.
  */
  privilegedGroups = [
    "root" "wheel" "sudo" "admin" "adm" "systemd-journal" "shadow" "disk" "kmem" "docker"
    "lxd" "incus-admin" "libvirt" "kvm" "staff"
  ];
}
