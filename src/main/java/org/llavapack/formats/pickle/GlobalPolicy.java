package org.llavapack.formats.pickle;

import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Which symbols a pickle may name (spec §2.3 rule 2). The reader never imports or calls anything, so this list is not
 * what keeps llavapack safe; it turns a file that plainly tries to run code into a clear refusal instead of an inert
 * load, and it is checked when a symbol is first named (GLOBAL/STACK_GLOBAL/INST), so even a reference that is never
 * called is refused. Denylists get bypassed (the picklescan corpus shows how), which is why rule 1 comes first.
 */
final class GlobalPolicy {
    private GlobalPolicy() {}

    private static final Pattern DOTTED_IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*");

    /** The only builtins a checkpoint needs; {@code getattr} is further restricted to the enum idiom when called. */
    private static final Set<String> ALLOWED_BUILTINS = Set.of("set", "frozenset", "bytes", "bytearray", "complex", "slice", "getattr");

    /**
     * Modules that run code, open files or sockets, or load other pickles. A module reached as an attribute of another
     * ({@code posixpath.os}, {@code torch.serialization.os}) is refused just the same.
     */
    private static final Set<String> ATTRIBUTE_MODULES = Set.of(
            "os", "posix", "nt", "sys", "subprocess", "_posixsubprocess", "socket", "_socket", "runpy", "pty", "shutil",
            "importlib", "imp", "pickle", "_pickle", "cPickle", "marshal", "webbrowser", "ctypes", "_ctypes", "builtins",
            "__builtin__", "pydoc", "multiprocessing", "commands", "popen2", "platform", "code", "codeop");

    /** Module (or {@code module.name}) prefixes refused together with everything below them. */
    private static final List<String> DENIED_PREFIXES = List.of(
            // spec §2.3 rule 2
            "os", "posix", "nt", "sys", "subprocess", "socket", "runpy", "pty", "shutil", "importlib", "pickle",
            "webbrowser", "ctypes", "functools", "operator.attrgetter", "operator.itemgetter", "operator.methodcaller",
            "torch.serialization", "torch.load", "torch._inductor",
            // other ways to the same places
            "_operator.attrgetter", "_operator.itemgetter", "_operator.methodcaller", "operator.call", "_operator.call",
            "_posixsubprocess", "_socket", "_ctypes", "imp", "_pickle", "cPickle", "dill", "cloudpickle", "joblib",
            "shelve", "marshal", "types", "code", "codeop", "timeit", "pdb", "bdb", "cProfile", "profile", "trace",
            "multiprocessing", "asyncio", "io", "_io", "codecs", "pydoc", "commands", "popen2", "pipes", "platform",
            "tempfile", "signal", "_signal", "threading", "_thread", "thread", "concurrent", "select", "selectors",
            "ssl", "http", "urllib", "urllib2", "urllib3", "httplib", "requests", "aiohttp", "httpx", "ftplib",
            "smtplib", "telnetlib", "poplib", "imaplib", "nntplib", "xmlrpc", "xmlrpclib", "socketserver",
            "SocketServer", "wsgiref", "zipimport", "pkgutil", "site", "_sitebuiltins", "sysconfig", "distutils",
            "setuptools", "pip", "ensurepip", "venv", "dbm", "sqlite3", "gc", "inspect", "ast", "dis", "compileall",
            "py_compile", "mmap", "fcntl", "resource", "pwd", "grp", "spwd", "crypt", "termios", "tty", "getpass",
            "tkinter", "turtle", "idlelib", "lib2to3", "logging.config", "yaml", "jinja2", "IPython", "_winapi",
            "msvcrt", "winreg", "_winreg",
            // torch entry points that load pickles, compile or run code
            "torch.hub", "torch.jit", "torch.package", "torch.utils.cpp_extension", "torch._dynamo", "torch._C",
            "torch._ops", "torch.ops", "torch.classes", "torch.library", "torch.fx", "torch.distributed.rpc",
            "torch.multiprocessing", "torch.storage._load_from_bytes", "torch.compile", "torch.export",
            "torch._export", "torch.testing",
            // numpy / pandas loaders and writers
            "numpy.load", "numpy.loads", "numpy.lib.npyio", "numpy.lib.format", "numpy.f2py", "numpy.distutils",
            "numpy.ctypeslib", "numpy.testing", "numpy.save", "numpy.savez", "numpy.savez_compressed",
            "numpy.savetxt", "numpy.memmap", "pandas.read_pickle", "pandas.io", "pandas.eval",
            "pandas.core.computation",
            // training frameworks: config files are Python, builders compile
            "mmengine.config.Config", "mmengine.config.config.Config", "mmengine.fileio", "deepspeed.launcher",
            "deepspeed.ops.op_builder", "transformers.dynamic_module_utils");

    static boolean wellFormed(String dottedName) {
        return DOTTED_IDENTIFIER.matcher(dottedName).matches();
    }

    /** Why {@code module.name} is refused, or null when it may be named. Both parts must be well-formed. */
    static String denial(String module, String name) {
        String canonicalModule = module.equals("__builtin__") ? "builtins" : module;
        if (canonicalModule.equals("builtins")) {
            if (ALLOWED_BUILTINS.contains(name)) return null;
            return "only set, frozenset, bytes, bytearray, complex, slice and getattr are accepted from builtins";
        }
        String fqn = canonicalModule + "." + name;
        for (String p : DENIED_PREFIXES) {
            if (fqn.equals(p) || fqn.startsWith(p + ".") || canonicalModule.equals(p)) {
                return p + " can run code, touch files or load other pickles";
            }
        }
        String[] parts = fqn.split("\\.");
        for (int i = 1; i < parts.length; i++) {
            if (ATTRIBUTE_MODULES.contains(parts[i])) return "it reaches module " + parts[i] + " through an attribute";
        }
        for (String part : name.split("\\.")) {
            if (part.startsWith("__") && part.endsWith("__")) return "dunder attributes are refused";
        }
        return null;
    }
}
