package org.llavapack.bundle.hf;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.PublicKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.llavapack.BadInputException;
import org.llavapack.CheckFailedException;
import org.llavapack.OutputException;
import org.llavapack.bundle.BundleSource;
import org.llavapack.bundle.Sha256;
import org.llavapack.bundle.Verification;
import org.llavapack.formats.safetensors.ByteSize;
import org.llavapack.io.AtomicOutput;
import org.llavapack.progress.Progress;

/**
 * Lays a bundle out as a Hugging Face Hub model repository, ready for {@code huggingface-cli upload}: the model card
 * as README.md at the root, every file at its bundle path, and the manifest, SHA256SUMS and signature alongside so a
 * download from the Hub can be verified. The Hub keeps its own .gitattributes (LFS rules are decided server side on
 * upload), so none is written.
 *
 * <p>Limits are the Hub's repository guidance as recorded in shared/specs/anchors.md §6: fewer than 100k files per
 * repo and 10k entries per folder (refused), files under 200 GB recommended (warned) and 500 GB at most (refused),
 * and about 100 files per commit (beyond that, upload-large-folder is suggested).
 */
public final class HfRepoLayout {
    private HfRepoLayout() {}

    public static final int MAX_FILES = 100_000;
    public static final int MAX_ENTRIES_PER_FOLDER = 10_000;
    public static final long RECOMMENDED_MAX_FILE = 200_000_000_000L;
    public static final long MAX_FILE = 500_000_000_000L;
    public static final int FILES_PER_COMMIT = 100;

    public record Options(boolean force, Optional<PublicKey> key, int threads) {}

    public record Report(Path output, int files, long bytes, List<String> warnings, String uploadCommand) {}

    /** Problems that make the bundle unfit for the Hub (refusals) and advice (warnings). */
    public record Check(List<String> refusals, List<String> warnings) {}

    public static Check check(Map<String, Long> sizes) {
        List<String> refusals = new ArrayList<>(), warnings = new ArrayList<>();
        if (sizes.size() >= MAX_FILES) refusals.add(sizes.size() + " files: the Hub supports fewer than " + MAX_FILES + " per repository");
        Map<String, Integer> perFolder = new HashMap<>();
        for (String p : sizes.keySet()) {
            // Count direct children (files and subfolders) of every folder.
            String parent = p.contains("/") ? p.substring(0, p.lastIndexOf('/')) : "";
            perFolder.merge(parent, 1, Integer::sum);
        }
        java.util.Set<String> folders = new java.util.HashSet<>();
        for (String p : sizes.keySet()) {
            for (int i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
                String folder = p.substring(0, i);
                if (folders.add(folder)) perFolder.merge(folder.contains("/") ? folder.substring(0, folder.lastIndexOf('/')) : "", 1, Integer::sum);
            }
        }
        perFolder.forEach((folder, n) -> {
            if (n >= MAX_ENTRIES_PER_FOLDER) refusals.add((folder.isEmpty() ? "the root" : folder + "/") + " has " + n + " entries: the Hub supports fewer than " + MAX_ENTRIES_PER_FOLDER + " per folder");
        });
        sizes.forEach((p, size) -> {
            if (size > MAX_FILE) refusals.add(p + " is " + ByteSize.format(size) + ": the Hub refuses files over " + ByteSize.format(MAX_FILE) + "; shard it");
            else if (size > RECOMMENDED_MAX_FILE) warnings.add(p + " is " + ByteSize.format(size) + ": the Hub recommends files under " + ByteSize.format(RECOMMENDED_MAX_FILE));
        });
        if (sizes.size() > FILES_PER_COMMIT) warnings.add(sizes.size() + " files: more than ~" + FILES_PER_COMMIT + " per commit; upload with 'huggingface-cli upload-large-folder'");
        return new Check(List.copyOf(refusals), List.copyOf(warnings));
    }

    public static Report publish(BundleSource source, Path target, Options o, Progress progress, Consumer<String> warn) {
        Verification.Found found = source.scan(o.threads(), progress);
        Verification.require(found, o.key());
        Map<String, Long> sizes = new HashMap<>();
        found.files().forEach((p, f) -> sizes.put(p, f.size()));
        Check check = check(sizes);
        if (!check.refusals().isEmpty()) throw new BadInputException(source.path(), "not fit for a Hugging Face repository: " + String.join("; ", check.refusals()));
        check.warnings().forEach(warn);
        long total = sizes.values().stream().mapToLong(Long::longValue).sum();
        try (AtomicOutput dir = AtomicOutput.directory(target, o.force())) {
            progress.start("writing", total, sizes.size());
            source.forEach((path, size, in) -> {
                Path dst = dir.path().resolve(path);
                MessageDigest md = Sha256.newDigest();
                OutputStream os;
                try {
                    Files.createDirectories(dst.getParent());
                    os = Files.newOutputStream(dst);
                } catch (IOException e) {
                    throw OutputException.of(dst, e);
                }
                try (os) {
                    byte[] buf = new byte[1 << 20];
                    int n;
                    // A read error is the bundle's (the reader reports it); a write error is the target's.
                    while ((n = in.read(buf)) >= 0) {
                        md.update(buf, 0, n);
                        try {
                            os.write(buf, 0, n);
                        } catch (IOException e) {
                            throw OutputException.of(dst, e);
                        }
                        progress.advance(n, 0);
                    }
                }
                progress.advance(0, 1);
                // What lands in the repo must be what was just verified, byte for byte.
                if (!Sha256.hex(md.digest()).equals(found.files().get(path).sha256())) {
                    throw new CheckFailedException(path + ": changed while it was being copied");
                }
            });
            dir.commit();
            String cmd = (sizes.size() > FILES_PER_COMMIT ? "huggingface-cli upload-large-folder OWNER/NAME --repo-type=model " : "huggingface-cli upload OWNER/NAME ")
                    + dir.target() + (sizes.size() > FILES_PER_COMMIT ? "" : " .");
            return new Report(dir.target(), sizes.size(), total, check.warnings(), cmd);
        }
    }
}
