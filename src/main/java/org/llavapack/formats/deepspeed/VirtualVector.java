package org.llavapack.formats.deepspeed;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Several flat partitions seen as their concatenation, without building it: prefix sums of the lengths locate any
 * range, which comes back as pieces of the underlying partitions (spec §4.7). ZeRO-1/2 concatenates one group's slices
 * across ranks; ZeRO-3 concatenates one rank's sub-groups.
 */
final class VirtualVector {
    private final List<FlatPartition> parts;
    private final long[] starts;

    VirtualVector(List<FlatPartition> parts) {
        this.parts = List.copyOf(parts);
        this.starts = new long[parts.size() + 1];
        for (int i = 0; i < parts.size(); i++) {
            long len = parts.get(i).length();
            if (len < 0) throw new IllegalArgumentException("negative partition length");
            starts[i + 1] = Math.addExact(starts[i], len);
        }
    }

    long length() {
        return starts[parts.size()];
    }

    /** Where part {@code i} starts in the concatenation. */
    long startOf(int i) {
        return starts[i];
    }

    long lengthOf(int i) {
        return starts[i + 1] - starts[i];
    }

    /** The pieces covering {@code [from, from+count)}; the range must lie inside the vector. */
    List<TensorSource.Piece> pieces(long from, long count) {
        if (from < 0 || count < 0 || from + count > length()) {
            throw new IndexOutOfBoundsException("[" + from + ", " + (from + count) + ") of " + length());
        }
        List<TensorSource.Piece> out = new ArrayList<>();
        if (count == 0) return out;
        int i = Arrays.binarySearch(starts, from);
        if (i < 0) i = -i - 2;
        while (starts[i + 1] <= from) i++; // step over empty partitions
        long pos = from;
        long end = from + count;
        while (pos < end) {
            long partEnd = starts[i + 1];
            long n = Math.min(end, partEnd) - pos;
            if (n > 0) {
                out.add(new TensorSource.Piece(parts.get(i), pos - starts[i], n));
                pos += n;
            }
            i++;
        }
        return out;
    }
}
