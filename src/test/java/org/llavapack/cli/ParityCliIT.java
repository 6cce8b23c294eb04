package org.llavapack.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.llavapack.TestPaths;
import org.llavapack.parity.ReportHtml;

/** parity through bin/llavapack and the shaded jar (which finds libtorch in lib/ through its manifest Class-Path). */
class ParityCliIT {
    @TempDir
    Path tmp;

    static final String[] CHROMIUM_FLAGS = {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"};

    @Test
    void htmlReportRendersInHeadlessChromiumWithNumbersAndCharts() throws Exception {
        Path report = tmp.resolve("r.json"), html = tmp.resolve("r.html");
        var r = CliRunner.run("parity", TestPaths.checkpoint("xtuner-single.pth").toString(), TestPaths.checkpoint("tiny-llama-lora").toString(),
                "--vision", TestPaths.checkpoint("tiny-plip").toString(), "--report", report.toString(), "--html", html.toString());
        // The candidate has only the LLM; the XTuner module copies are bf16, the adapter fp32 with other values → fail, exit 1.
        assertEquals(1, r.exit(), r.stdout() + r.stderr());
        assertEquals(1, r.stderrLines().size(), r.stderr());
        assertTrue(r.stderr().startsWith("error: parity failed: llm"), r.stderr());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        JsonNode llm = null;
        for (JsonNode c : json.get("components")) if (c.get("component").asText().equals("llm")) llm = c;
        String rel = ReportHtml.sci(llm.at("/metrics/rel_l2").asDouble());
        assertTrue(r.stdout().contains(rel), r.stdout());

        String dom = dumpDom(html);
        assertTrue(dom.contains("<svg"), "an inline SVG chart in the rendered DOM");
        assertTrue(dom.contains("id=\"layers-llm\"") && dom.contains("id=\"hist-llm\"") && dom.contains("id=\"tokens-llm\"") && dom.contains("id=\"verdict-chart\""), "all charts");
        assertTrue(dom.contains(rel), "relative L2 " + rel + " in the rendered page");
        assertTrue(dom.contains(ReportHtml.sci(llm.at("/metrics/max_abs").asDouble())), "max |Δ| in the rendered page");
        assertTrue(dom.contains("id=\"verdict\">FAIL<"), "verdict");
        assertTrue(!dom.contains("src=\"http") && !dom.contains("href=\"http"), "no external assets");
    }

    /** Headless Chromium's --dump-dom, kept off the network. Missing Chromium fails in CI and aborts loudly elsewhere. */
    private Path chromium() {
        for (String c : new String[] {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) if (Files.isExecutable(Path.of(c))) return Path.of(c);
        String why = "Debian's chromium is not installed (apt-get install -y chromium): the HTML report was NOT rendered or checked";
        System.err.println("\n!!!!! ParityCliIT: " + why + " !!!!!\n");
        if (System.getenv("CI") != null) fail(why);
        Assumptions.abort(why);
        return null;
    }

    private String dumpDom(Path html) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(chromium().toString()));
        cmd.addAll(List.of(CHROMIUM_FLAGS));
        cmd.add("--user-data-dir=" + Files.createDirectories(tmp.resolve("chromium-profile")));
        cmd.add("--dump-dom");
        cmd.add(html.toUri().toString());
        Process p = new ProcessBuilder(cmd).redirectError(tmp.resolve("chromium.err").toFile()).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("chromium did not finish in 120 s");
        }
        String dom = new String(out, StandardCharsets.UTF_8);
        assertTrue(dom.contains("</html>"), () -> "chromium --dump-dom gave no page; stderr: " + read(tmp.resolve("chromium.err")));
        return dom;
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "?";
        }
    }

    /** Two JVMs starting together on an empty DJL cache: the file lock lets one extract libtorch, the other waits. */
    @Test
    void concurrentFirstUseOnAFreshCache() throws Exception {
        Path cache = tmp.resolve("djl-cache");
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            ProcessBuilder pb = new ProcessBuilder(TestPaths.repo().resolve("bin/llavapack").toString(), "parity",
                    TestPaths.checkpoint("tiny-plip").toString(), TestPaths.checkpoint("tiny-plip").toString())
                    .redirectOutput(tmp.resolve("out" + i).toFile()).redirectError(tmp.resolve("err" + i).toFile());
            pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
            pb.environment().put("DJL_CACHE_DIR", cache.toString());
            pb.environment().put("LLAVAPACK_CDS", "0");
            String jar = System.getProperty("llavapack.jar");
            if (jar != null) pb.environment().put("LLAVAPACK_JAR", jar);
            ps.add(pb.start());
        }
        for (int i = 0; i < 2; i++) {
            Process p = ps.get(i);
            if (!p.waitFor(300, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("run " + i + " did not finish");
            }
            assertEquals(0, p.exitValue(), read(tmp.resolve("err" + i)) + read(tmp.resolve("out" + i)));
            assertTrue(read(tmp.resolve("out" + i)).contains("PASS"));
        }
        try (var s = Files.walk(cache)) {
            assertTrue(s.anyMatch(f -> f.getFileName().toString().equals("libtorch_cpu.so")), "libtorch extracted into DJL_CACHE_DIR");
        }
    }
}
