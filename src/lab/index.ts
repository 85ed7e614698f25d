/** The lab: real Debian machines (systemd-nspawn) for lockclaw's end-to-end tests and demo. */
export { LabError } from "./errors.js";
export { labDown, labList, labUp, resolveLabTarget, waitForSsh, sshBanner } from "./machine.js";
export type { LabListEntry, LabMachine, LabUpOptions } from "./machine.js";
export { packagesFromPlaybooks, packagesFromPlaybookText, LAB_EXTRA_PACKAGES } from "./packages.js";
export { defaultLabDir, machinePaths, validateMachineName } from "./paths.js";
export { ensureRootfs, hostMirror, LOCAL_REPO, LOCAL_REPO_SOURCE } from "./rootfs.js";
export { DISTROS, type Distro, type LabUser, type MachineState } from "./state.js";
export { defaultPlaybookFiles, storePackages } from "./store.js";
export { parseVagrantSshConfig, resolveVagrantTarget } from "./vagrant.js";
