package dev.volumes.ha;

import dev.volumes.device.ReadOnlyDeviceException;

/**
 * A modifying operation (or, under {@link ReadPolicy#LEADER_ONLY}, a read) reached a node that is
 * not the leader of the current term, so it was refused and nothing changed. It is a {@link
 * ReadOnlyDeviceException} so every layer maps it the same way (NBD: EPERM); the message says
 * which node, which state and which term, so a client knows to go to the leader.
 */
public final class NotLeaderException extends ReadOnlyDeviceException {

    private final String message;

    /**
     * @param deviceName the gated device
     * @param operation what was refused ("write", "sync" ...)
     * @param nodeId this node
     * @param state this node's controller state at the refusal
     * @param term the term this node knows of (0 if none)
     */
    public NotLeaderException(String deviceName, String operation, String nodeId, ControllerState state, long term) {
        this(deviceName, operation, "node " + nodeId + " is not the leader (state " + state + ", term " + term + ")");
    }

    /**
     * @param deviceName the refusing device
     * @param operation what was refused
     * @param why why this node cannot serve it, e.g. "no term is open on this node"
     */
    public NotLeaderException(String deviceName, String operation, String why) {
        super(deviceName, operation);
        this.message = operation + " refused on '" + deviceName + "': " + why;
    }

    @Override
    public String getMessage() {
        return message;
    }
}
