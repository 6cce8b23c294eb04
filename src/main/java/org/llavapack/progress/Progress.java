package org.llavapack.progress;

/** Where long-running work reports how far it got. Implementations must tolerate calls from several threads. */
public interface Progress extends AutoCloseable {

    Progress NONE = new Progress() {
        @Override
        public void start(String label, long totalBytes, int totalTensors) {}

        @Override
        public void advance(long bytes, int tensors) {}

        @Override
        public void close() {}
    };

    void start(String label, long totalBytes, int totalTensors);

    void advance(long bytes, int tensors);

    @Override
    void close();
}
