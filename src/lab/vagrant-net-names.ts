/** The Vagrant boxes' network names, apart from vagrant-box.ts so declaring `lab net` loads none of the lab. */
export const VAGRANT_BRIDGE = "lcvagrant0";
/** The boxes' network: VirtualBox's default host-only range, the addresses vagrant/boxes.json gives. */
export const VAGRANT_NET_PREFIX = "192.168.56";
export const VAGRANT_HOST_ADDRESS = `${VAGRANT_NET_PREFIX}.1`;
